"""HTTP plumbing shared by the handlers: the parsed request (`Call`), body reading with a size cap, and
JSON/Status responses. Nothing here knows about kinds; handlers.py and subresources.py build on it.

JSON answers are `Reply` objects: an ASGI response that sends its prebuilt status, two headers and body as
the two ASGI messages directly (Starlette's `Response` builds and checks a header mapping per response, on
the path of every create and bind). Request headers are read through `Call.header`, one dictionary per
request instead of a scan of the header list per lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

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
    _headers: dict | None = None

    def header(self, name: str, default: str = "") -> str:
        """A request header by its lower-case name (the first one when repeated)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for key, value in self.request.scope["headers"]:
                headers.setdefault(key, value)
        value = headers.get(name.encode("latin-1"))
        return default if value is None else value.decode("latin-1")

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
        return "as=Table" in self.header("accept")

    async def body(self, decode=decode_body):
        """The decoded body (by `decode(raw, content_type)`), or a Problem (400 malformed, 413 too large, 415
        unknown media type)."""
        length = self.header("content-length")
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
        return decode(raw, self.header("content-type", "application/json"))


class Reply:
    """A complete `application/json` response (an ASGI app, like Starlette's responses)."""

    __slots__ = ("status_code", "body", "raw_headers")

    def __init__(self, body: bytes, status: int = 200, warning: str = "") -> None:
        self.status_code, self.body = status, body
        self.raw_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if warning:
            self.raw_headers.append((b"warning", warning.encode("ascii")))

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


WARNING_TEXT_MAX = 256
WARNINGS_MAX = 4096
"""Caps on one warning's text and on the Warning header as a whole, as upstream's warning recorder keeps."""
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(char: str) -> str:
    """One character as it may stand inside a header's quoted-string (printable ASCII, Go-style escapes)."""
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def warning_value(text: str) -> str:
    """One `299 - "text"` warning value: the text cut to WARNING_TEXT_MAX characters, every character that
    is not printable ASCII escaped, so client-supplied text (a field name) can never break the header."""
    if len(text) > WARNING_TEXT_MAX:
        text = text[:WARNING_TEXT_MAX - 3] + "..."
    return '299 - "' + "".join(_escaped(c) for c in text) + '"'


def warning_header(warnings) -> str:
    """The Warning header for `warnings`: their values joined until WARNINGS_MAX bytes, '' for none."""
    out, size = [], 0
    for text in warnings:
        value = warning_value(text)
        if size + len(value) + 2 > WARNINGS_MAX:
            break
        out.append(value)
        size += len(value) + 2
    return ", ".join(out)


def json_response(body, status: int = 200, warnings: list[str] | tuple = ()) -> Reply:
    return Reply(orjson.dumps(body), status, warning_header(warnings) if warnings else "")


def problem_response(problem: Problem) -> Reply:
    return Reply(orjson.dumps(problem.body()), problem.code)


def respond(result, status: int = 200, warnings=()) -> Reply:
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
