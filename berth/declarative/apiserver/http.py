"""HTTP plumbing shared by the handlers: the parsed request (`Call`), body reading with a size cap, and
JSON/Status responses. Nothing here knows about kinds; handlers.py and subresources.py build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from berth.declarative.apiserver.codec import MAX_BODY, decode_body, too_large
from berth.declarative.apiserver.kinds import ResourceSpec
from berth.declarative.apiserver.status import Problem, bad_request

FIELD_VALIDATION = {"": "Warn", "Warn": "Warn", "Strict": "Strict", "Ignore": "Ignore"}


@dataclass(slots=True)
class Call:
    """One resource request: the spec, namespace, name and subresource from the URL, and the raw request."""

    spec: ResourceSpec
    namespace: str
    name: str
    sub: str
    request: Request
    _params: dict | None = None

    @property
    def query(self) -> dict[str, str]:
        """The query parameters (the last value of a repeated one), parsed once; cheap when there are none."""
        params = self._params
        if params is None:
            raw = self.request.scope.get("query_string", b"")
            params = self._params = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)) if raw else {}
        return params

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)

    def flag(self, name: str) -> bool:
        return self.param(name).lower() in ("1", "true", "yes")

    @property
    def dry_run(self) -> bool:
        return self.param("dryRun") == "All"

    def validation(self) -> str | Problem:
        mode = self.param("fieldValidation")
        if mode not in FIELD_VALIDATION:
            return bad_request(f'fieldValidation must be one of "Strict", "Warn", "Ignore"; got {mode!r}')
        return FIELD_VALIDATION[mode]

    def wants_table(self) -> bool:
        return "as=Table" in self.request.headers.get("accept", "")

    async def body(self):
        """The decoded body, or a Problem (400 malformed, 413 too large, 415 unknown media type)."""
        length = self.request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY:
            return too_large()
        chunks, size, more = [], 0, True
        receive = self.request.receive
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return bad_request("the client went away before sending the whole body")
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > MAX_BODY:
                return too_large()
            chunks.append(chunk)
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return decode_body(raw, self.request.headers.get("content-type", "application/json"))


def json_response(body, status: int = 200, warnings: list[str] | tuple = ()) -> Response:
    headers = {"Warning": ", ".join(f'299 - "{w}"'.replace("\n", " ") for w in warnings[:20])} if warnings else None
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def problem_response(problem: Problem) -> Response:
    return Response(orjson.dumps(problem.body()), problem.code, media_type="application/json")


def respond(result, status: int = 200, warnings=()) -> Response:
    if isinstance(result, Problem):
        return problem_response(result)
    return json_response(result, status, warnings)


def int_param(call: Call, name: str, default: int | None = None) -> int | None | Problem:
    text = call.param(name)
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        return bad_request(f"{name} must be an integer, got {text!r}")
    if value < 0:
        return bad_request(f"{name} must not be negative")
    return value
