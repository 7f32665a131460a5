"""JSON request bodies of the centralised plane's own services, validated with JSON Schema.

`parse(raw, schema)` decodes a body and checks it against a schema (compiled once per schema
object), returning the data or a `Problem` that names the field at fault: `server.colour` for
a key the schema does not allow, `server.name` for a missing or bad value, `body` for JSON
that does not parse.  Nova validates its request bodies the same way.  Used by the compute
API, the compute agent and the scheduler service; Placement keeps upstream's own messages
(`placement.request`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson

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
        return f"Invalid input for field/attribute {self.field}: {self.message}"


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
    err = jsonschema.exceptions.best_match(_validator(schema).iter_errors(data))
    return data if err is None else Problem(field_of(err), err.message)
