"""JSON request bodies of the centralised plane's own services, validated with JSON Schema.

`parse(raw, schema)` decodes a body and checks it against a schema (compiled once per schema
object), returning the data or a `Problem` that names the field at fault: `server.colour` for
a key the schema does not allow, `server.name` for a missing or bad value, `body` for JSON
that does not parse or nests deeper than `MAX_DEPTH` (validators recurse once per level, so a
900-deep document would exhaust the stack).  Echoed text is clipped to `CLIP` characters, so an
answer never repeats a whole body.  Nova validates its request bodies the same way.  Used by the
compute API, the compute agent and the scheduler service; Placement keeps upstream's own
messages (`placement.request`) and shares `too_deep` and `clip`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson

MAX_DEPTH = 32
"""Nesting levels a body may have (the deepest document any service takes has fewer than 8)."""
CLIP = 200
"""Characters of client text an error message repeats at most."""

_COMPILED: dict[int, tuple[dict, jsonschema.protocols.Validator]] = {}
"""id(schema) -> (schema, its validator); the schema is kept so its id is never reused."""

_NAMED_KEYS = {  # validator -> the keys of the instance an error is about, beyond its path
    "additionalProperties": lambda err: sorted(set(err.instance) - set(err.schema.get("properties", {}))),
    "required": lambda err: [k for k in err.validator_value if k not in err.instance],
}


@dataclass(frozen=True)
class Problem:
    """Why a body was refused: the field at fault (dotted) and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"Invalid input for field/attribute {clip(self.field)}: {clip(self.message)}"


def clip(text: str, limit: int = CLIP) -> str:
    """`text`, cut to `limit` characters (marked) when longer."""
    return text if len(text) <= limit else text[:limit] + "...(truncated)"


def too_deep(data: object, limit: int = MAX_DEPTH) -> bool:
    """True when lists and objects nest more than `limit` levels in `data` (iterative: no recursion)."""
    level, frontier = 0, [data]
    while frontier:
        level += 1
        if level > limit:
            return True
        frontier = [v for item in frontier
                    for v in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
                    if isinstance(v, (dict, list))]
    return False


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    found = _COMPILED.get(id(schema))
    if found is None:
        found = _COMPILED[id(schema)] = (schema, jsonschema.validators.validator_for(schema)(schema))
    return found[1]


def field_of(err: jsonschema.ValidationError) -> str:
    """The dotted name of the field an error is about (`body` for the whole document)."""
    parts = [str(p) for p in err.absolute_path]
    parts += _NAMED_KEYS.get(err.validator, lambda _err: [])(err)[:1]
    return ".".join(parts) or "body"


def parse(raw: bytes, schema: dict) -> Any | Problem:
    """The decoded body if it is JSON that `schema` accepts, else the first `Problem`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Problem("body", f"malformed JSON: {exc}")
    if too_deep(data):
        return Problem("body", f"nested more than {MAX_DEPTH} levels deep")
    err = jsonschema.exceptions.best_match(_validator(schema).iter_errors(data))
    return data if err is None else Problem(field_of(err), err.message)
