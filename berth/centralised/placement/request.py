"""The request and response values every Placement handler takes and returns.

`Req` carries the negotiated microversion, the caller's identity, path parameters, the parsed
query string and body helpers (`json()` validates with a JSON schema and answers 400 the
way upstream does; `describe` words a schema error as jsonschema does, with every echoed value
clipped, and a body nested deeper than `bodies.MAX_DEPTH` is a 400 before any validator
recurses into it).  `Resp` is what a handler returns; the app serialises it.  Handlers
are plain functions `Req -> Resp`, so they can be unit-tested without a socket.
"""

from __future__ import annotations

import datetime as dt
import reprlib
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any

import jsonschema
import orjson

from berth.centralised.bodies import CLIP, MAX_DEPTH, clip, too_deep
from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.microversion import Version

CHECKER = jsonschema.FormatChecker()


@CHECKER.checks("uuid")
def _uuid_like(value: object) -> bool:
    """UUIDs with or without dashes, as upstream's validator accepts."""
    import uuid
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


_VALIDATORS: dict[bytes, jsonschema.protocols.Validator] = {}


def validator(schema: dict) -> jsonschema.protocols.Validator:
    """A compiled validator per distinct schema (building one per request is costly)."""
    key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    found = _VALIDATORS.get(key)
    if found is None:
        cls = jsonschema.validators.validator_for(schema)
        found = _VALIDATORS[key] = cls(schema, format_checker=CHECKER)
    return found


def _short_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxstring = short.maxother = short.maxlong = CLIP
    short.maxlevel, short.maxdict, short.maxlist = 3, 8, 8
    return short


_SHORT = _short_repr()


def describe(err: jsonschema.ValidationError) -> str:
    """jsonschema's account of `err` (message, rule, where), never repeating more than a clip of
    the request."""
    schema_path = "schema" + "".join(f"[{p!r}]" for p in list(err.relative_schema_path)[:-1])
    instance_path = "instance" + "".join(f"[{p!r}]" for p in err.relative_path)
    return (f"{clip(err.message)}\n\nFailed validating {err.validator!r} in {clip(schema_path)}:\n    "
            f"{_SHORT.repr(err.schema)}\n\nOn {clip(instance_path)}:\n    {_SHORT.repr(err.instance)}")


def check(data: object, schema: dict) -> None:
    """Raise jsonschema.ValidationError for the first problem (as jsonschema.validate does)."""
    error = jsonschema.exceptions.best_match(validator(schema).iter_errors(data))
    if error is not None:
        raise error


@dataclass
class Req:
    """One API request as the handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    version: Version
    roles: list[str]
    user_id: str
    project_id: str
    request_id: str
    service: Any = None
    view: Any = None
    """The candidate-index view the dispatcher found current when it chose to run the handler
    on the event loop (so the handler needs no SQL); None: ask `service.index.current()`."""

    def want(self, minor: int) -> bool:
        """True when the request's microversion is at least 1.`minor`."""
        return self.version >= (1, minor)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def require_json(self) -> None:
        """415 unless the body is declared as application/json."""
        ctype = self.headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/json":
            raise ApiError(415, f"The media type {ctype or 'None'} is not supported, "
                                "use application/json")

    def accepts_json(self) -> bool:
        """False when an Accept header is present and rules out application/json."""
        accept = self.headers.get("accept", "").strip()
        if not accept:
            return True
        kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
        return bool(kinds & {"application/json", "application/*", "*/*", "*"})

    def json(self, schema: dict | None = None) -> Any:
        """The body as JSON, validated against `schema`; 415/400 like upstream."""
        self.require_json()
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"Malformed JSON: {exc}") from None
        if too_deep(data):
            raise ApiError(400, f"JSON does not validate: nested more than {MAX_DEPTH} levels deep")
        if schema is not None:
            try:
                check(data, schema)
            except jsonschema.ValidationError as exc:
                raise ApiError(400, f"JSON does not validate: {describe(exc)}") from None
        return data


@dataclass
class Resp:
    """A handler's answer: status, JSON-able body (or None) and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def modified(self, req: Req, when: dt.datetime | None) -> "Resp":
        """Add last-modified/cache-control at microversion >= 1.15."""
        if req.want(15):
            when = when or dt.datetime.now(dt.UTC).replace(tzinfo=None)
            self.headers["last-modified"] = format_datetime(when.replace(tzinfo=dt.UTC), usegmt=True)
            self.headers["cache-control"] = "no-cache"
        return self
