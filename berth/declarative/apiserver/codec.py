"""Request bodies in, stored bytes and objects out: JSON/YAML decoding, size limits, schema pruning.

`decode_body` turns a request body into a dict (or a 400/413/415 `Problem`); `conform` walks it against the
kind's structural schema, dropping unknown fields (reported back for strict or warn field validation) and
rejecting wrong JSON types. `to_stored`/`from_record` convert between objects and the store's bytes; the
resourceVersion is never stored, it is the record's mod_revision. `to_stored` remembers the object it
last encoded, so the watch fan-out, which runs inside that very write, takes the object instead of decoding
the bytes again (`fresh_object`). Callers: handlers, registry, watch.
"""

from __future__ import annotations

import orjson
import yaml

from berth.declarative.apiserver.schema import SCALAR_TYPES, Node
from berth.declarative.apiserver.status import Problem, bad_request

MAX_BODY = 3 * 1024 * 1024  # upstream's default request size limit (3 MiB)
JSON_TYPES = ("application/json", "application/merge-patch+json", "application/strategic-merge-patch+json",
              "application/json-patch+json", "application/apply-patch+yaml", "application/yaml", "text/yaml",
              "application/x-yaml", "")
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def too_large() -> Problem:
    return Problem(413, "RequestEntityTooLarge", f"the request body is larger than the limit of {MAX_BODY} bytes")


def decode_body(raw: bytes, content_type: str):
    """Parse a JSON or YAML body; returns the value or a Problem naming what is wrong and where."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype not in JSON_TYPES:
        return Problem(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
    if len(raw) > MAX_BODY:
        return too_large()
    if not raw.strip():
        return bad_request("the request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        if "yaml" not in ctype:
            return bad_request(f"the body is not valid JSON: {err}")
    try:
        return yaml.load(raw, Loader=_SAFE_LOADER)
    except yaml.YAMLError as err:
        return bad_request(f"the body is not valid YAML: {err}".replace("\n", " "))
    except (ValueError, TypeError, RecursionError) as err:
        return bad_request(f"the body could not be decoded: {err}")


_JSON_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
# Scalar schema types -> the Python types JSON decoding gives for them (type(v) is checked, so a bool is no int).
_OK = SCALAR_TYPES
SCALARS_JSON = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "string",
                "date": "string", "bytearray": "string"}


def conform(value, node: Node, path: str, unknown: list[str], errors: list[str]):
    """Check `value` against `node`; drop unknown fields (appending their paths); returns the cleaned value.

    Objects and lists are cleaned in place; scalars are checked inline by their parent, and a member's path
    is only built when it is needed (this walk is on every create and update)."""
    kind = node.type
    if value is None or kind == "any":
        return value
    if kind == "object":
        if type(value) is not dict:
            return _wrong(value, path, "object", errors)
        fields = node.fields
        if fields:
            drop = None
            for key, v in value.items():
                child = fields.get(key)
                if child is None:
                    unknown.append(f"{path}.{key}" if path else key)
                    drop = [key] if drop is None else drop + [key]
                elif v is not None and (child.ok is None or type(v) not in child.ok):
                    new = _member(v, child, path, key, unknown, errors)
                    if new is not v:
                        value[key] = new
            for key in drop or ():
                del value[key]
        return value
    if kind == "list":
        if type(value) is not list:
            return _wrong(value, path, "array", errors)
        item = node.item
        ok = item.ok
        for i, v in enumerate(value):
            if v is not None and (ok is None or type(v) not in ok):
                new = _member(v, item, path, i, unknown, errors)
                if new is not v:
                    value[i] = new
        return value
    if kind == "map":
        if type(value) is not dict:
            return _wrong(value, path, "object", errors)
        item = node.item
        if not all(type(k) is str for k in value):
            return {str(k): _member(v, item, path, k, unknown, errors) for k, v in value.items()}
        ok = item.ok
        for k, v in value.items():
            if v is not None and (ok is None or type(v) not in ok):
                new = _member(v, item, path, k, unknown, errors)
                if new is not v:
                    value[k] = new
        return value
    return _scalar(value, node, path, errors)


def _member(value, node: Node, path: str, key, unknown: list[str], errors: list[str]):
    ok = node.ok
    if ok is not None and (value is None or type(value) in ok):
        return value
    if type(key) is int:
        sub = f"{path}[{key}]"
    else:
        sub = f"{path}.{key}" if path else key
    if ok is not None:
        return _scalar(value, node, sub, errors)
    return conform(value, node, sub, unknown, errors)


def _scalar(value, node: Node, path: str, errors: list[str]):
    if node.quantity and type(value) in (int, float):
        return str(value)
    allowed = _OK.get(node.type)
    if allowed is not None and type(value) not in allowed:
        return _wrong(value, path, SCALARS_JSON.get(node.type, node.type), errors)
    problem = node.check(value, path or "<root>") if node.check is not None else ""
    if problem:
        errors.append(problem)
    return value


def _wrong(value, path: str, expected: str, errors: list[str]):
    got = _JSON_NAMES.get(type(value), type(value).__name__)
    errors.append(f"cannot unmarshal {got} into field {path or '<root>'} of type {expected}")
    return value


_LAST: list = [b"", None]
"""The bytes `to_stored` returned last and the object they encode."""


def to_stored(obj: dict) -> bytes:
    """The bytes kept in the store: the object without its resourceVersion."""
    meta = obj["metadata"]
    rv = meta.pop("resourceVersion", None)
    try:
        encoded = orjson.dumps(obj)
    finally:
        if rv is not None:
            meta["resourceVersion"] = rv
    value = bytes(memoryview(encoded))  # orjson's bytes hold its whole output buffer (4 KiB for a 900-byte pod),
    _LAST[0], _LAST[1] = value, obj     # and the store keeps values for long: it gets a copy of the right size
    return value


def fresh_object(rec) -> dict:
    """`from_record(rec)`, without decoding when `rec` holds the very bytes `to_stored` just produced: then
    the object they came from, its resourceVersion set to the record's (as the writer sets it next).

    The object is the writer's: callers read it during the write (the watch fan-out) and keep nothing.
    Either way the remembered object is dropped, so it serves at most the one write that produced it."""
    value, obj = _LAST
    _LAST[0], _LAST[1] = b"", None
    if rec.value is value and obj is not None:
        obj["metadata"]["resourceVersion"] = str(rec.mod_revision)
        return obj
    return from_record(rec)


def from_record(rec) -> dict:
    """A fresh object from a store record, with resourceVersion set to the record's mod_revision."""
    obj = orjson.loads(rec.value)
    obj["metadata"]["resourceVersion"] = str(rec.mod_revision)
    return obj


def dumps(obj) -> bytes:
    return orjson.dumps(obj)
