"""The Placement ASGI application: auth, microversions, routing, error documents.

`create_app(service)` returns a plain ASGI application (`PlacementApp`, no framework layers
in between) that walks the route table (`berth.centralised.placement.routes`) in upstream's
middleware order: request id -> noauth2 token (401 without one, except on `/`) ->
microversion (400/406) -> route match (404 / 405 with `Allow`) -> microversion gate ->
policy (403) -> handler.  Every `ApiError` becomes upstream's JSON error document; responses
always carry the `openstack-api-version` and `vary` headers; an unexpected exception is a
plain 500 (and is re-raised for the server to log).  Handlers that may touch SQL run in a
thread pool; a gate whose `runs` is "loop" (no SQL) or "fresh-index" (while the candidate
index is known current without SQL) runs its handler on the event loop instead, which saves
two thread switches per request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import html
import re
import uuid
from urllib.parse import parse_qsl

import orjson

from berth.centralised.placement import microversion as mv
from berth.centralised.placement.errors import ApiError, error_body
from berth.centralised.placement.request import Req, Resp
from berth.centralised.placement.routes import ROUTES, Gate

_REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_THREADS = 40
"""Handler threads, shared by every app in the process (Starlette's default allowed as many)."""
_COMPILED = [(re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"), methods)
             for path, methods in ROUTES]


def _identity(headers: dict[str, str]) -> tuple[str, str, list[str]]:
    """noauth2: token 'user[:project]'; roles from X-Roles, else admin for user 'admin'.

    An X-Project-Id header names the project, as keystone's would; a system-scoped request
    (OpenStack-System-Scope) has no project at all.
    """
    user, _sep, project = headers["x-auth-token"].partition(":")
    if "x-roles" in headers:
        roles = [r.strip() for r in headers["x-roles"].split(",") if r.strip()]
    else:
        roles = ["admin"] if user == "admin" else []
    if headers.get("openstack-system-scope"):
        return user, "", roles
    return user, headers.get("x-project-id") or project or user, roles


def _wants_html(accept: str) -> bool:
    """Errors are HTML (as webob renders them) when the client accepts HTML but not JSON."""
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
    return "text/html" in kinds and not kinds & {"application/json", "application/*", "*/*"}


def _match(path: str) -> tuple[dict[str, Gate], dict[str, str]]:
    for pattern, methods in _COMPILED:
        found = pattern.match(path)
        if found:
            return methods, found.groupdict()
    raise ApiError(404, "The resource could not be found.")


class _Disconnected(Exception):
    """The client went away before its request body arrived."""


async def _body(receive) -> bytes:  # noqa: ANN001 - ASGI receive
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _path(scope: dict) -> str:
    """The request path as Starlette's `request.url.path` gives it."""
    return scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _origin(scope: dict, headers: dict[str, str]) -> str:
    """scheme://host[:port] of the request (Host header first, as Starlette's URL)."""
    scheme = scope.get("scheme", "http")
    if headers.get("host"):
        return f"{scheme}://{headers['host']}"
    host, port = scope.get("server") or ("127.0.0.1", 80)
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def _raw_headers(status: int, headers: dict[str, str], body: bytes,
                 ctype: str | None) -> list[tuple[bytes, bytes]]:
    """ASGI header list; content-length and content-type filled in unless given (as Starlette)."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    keys = {k for k, _v in raw}
    if b"content-length" not in keys and not (status < 200 or status in (204, 304)):
        raw.append((b"content-length", str(len(body)).encode()))
    if ctype is not None and b"content-type" not in keys:
        if ctype.startswith("text/") and "charset=" not in ctype.lower():
            ctype += "; charset=utf-8"
        raw.append((b"content-type", ctype.encode("latin-1")))
    return raw


_POOL = cf.ThreadPoolExecutor(_THREADS, thread_name_prefix="placement")
def _pin_fresh_view(req: Req) -> bool:
    """True (and the view pinned on `req`) when the index is known current without SQL."""
    req.view = req.service.index.peek()
    return req.view is not None


_ON_LOOP = {  # Gate.runs -> may the handler run on the event loop for this request now?
    "thread": lambda _req: False,
    "loop": lambda _req: True,
    "fresh-index": _pin_fresh_view,
}


class Dispatcher:
    """Turns one ASGI HTTP request into a `Req`, runs the gated handler, renders the result."""

    def __init__(self, service) -> None:  # noqa: ANN001 - PlacementService
        self.service = service

    async def __call__(self, scope: dict,
                       receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:  # noqa: ANN001
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        given = headers.get("x-openstack-request-id", "")
        request_id = given if _REQ_ID.match(given) else f"req-{uuid.uuid4()}"
        version = None
        cors = self._cors(method, headers)
        if cors is not None and method == "OPTIONS":
            return 200, _raw_headers(200, cors, b"", None), b""
        path = _path(scope)
        try:
            if path not in ("/", "") and "x-auth-token" not in headers:
                raise ApiError(401, "The request you have made requires authentication.")
            version = mv.negotiate(headers.get(mv.HEADER))
            body = await _body(receive)
            resp = await self._dispatch(self._build(scope, path, headers, body, version, request_id))
        except ApiError as err:
            resp = self._error(err, version, request_id, headers)
        location = resp.headers.get("location")
        if location and location.startswith("/"):
            resp.headers["location"] = _origin(scope, headers) + location
        return self._render(resp, version, request_id, cors)

    def _cors(self, method: str, headers: dict[str, str]) -> dict[str, str] | None:
        """CORS response headers when CORS is configured (None when it is off)."""
        origins = self.service.cors_origins
        if not origins or "origin" not in headers:
            return None
        if headers["origin"] not in origins:
            return {}
        out = {"access-control-allow-origin": headers["origin"],
               "access-control-expose-headers": "x-openstack-request-id, openstack-api-version"}
        if method == "OPTIONS":
            out["access-control-allow-methods"] = "GET, PUT, POST, DELETE, PATCH"
            out["access-control-allow-headers"] = headers.get("access-control-request-headers", "")
        return out

    def _build(self, scope: dict, path: str, headers: dict, body: bytes, version: mv.Version,
               request_id: str) -> Req:
        user, project, roles = _identity(headers) if "x-auth-token" in headers else ("", "", [])
        clen = headers.get("content-length")
        if clen:
            if not clen.isdigit():
                raise ApiError(400, "content-length header must be an integer")
            if int(clen) > 0 and not headers.get("content-type"):
                raise ApiError(400, "content-type header required when content-length > 0")
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        return Req(scope["method"], path, {}, query, headers, body, version, roles, user, project,
                   request_id, self.service)

    async def _dispatch(self, req: Req) -> Resp:
        methods, params = _match(req.path)
        gate = methods.get(req.method)
        if gate is None or not gate.min_version <= req.version <= gate.max_version:
            status = 405 if gate is None else gate.status
            text = (f"The method {req.method} is not allowed for this resource." if status == 405
                    else "The resource could not be found.")
            raise ApiError(status, text, headers={"allow": ", ".join(methods)} if status == 405 else None)
        req.params = params
        if gate.json_reply and not req.accepts_json():
            raise ApiError(406, "Only application/json is provided")
        if gate.json_body:
            req.require_json()
        gate.policy(req)
        if _ON_LOOP[gate.runs](req):
            return gate.handler(req)
        return await asyncio.get_running_loop().run_in_executor(_POOL, gate.handler, req)

    def _error(self, err: ApiError, version: mv.Version | None, request_id: str,
               headers: dict[str, str]) -> Resp:
        if _wants_html(headers.get("accept", "")):
            page = f"<html><head><title>{err.status}</title></head><body><h1>{err.status}</h1>" \
                   f"{html.escape(err.detail)}</body></html>"
            return Resp(err.status, None, {**err.headers, "content-type": "text/html; charset=UTF-8"},
                        raw=page.encode())
        code = err.code if version is not None and version >= (1, 23) else None
        extra = None
        if err.status == 406 and version is None:
            extra = {"max_version": str(mv.MAX), "min_version": str(mv.MIN)}
        body = error_body(err.status, err.detail, code, request_id, extra)
        return Resp(err.status, body, dict(err.headers))

    def _render(self, resp: Resp, version: mv.Version | None, request_id: str,
                cors: dict[str, str] | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        headers = dict(resp.headers)
        headers["x-openstack-request-id"] = request_id
        headers[mv.HEADER] = f"{mv.SERVICE} {version or mv.MIN}"
        headers["vary"] = mv.HEADER
        if resp.raw is not None:
            content, ctype = resp.raw, headers.pop("content-type", "application/json")
        elif resp.body is None:
            content, ctype = b"", None
        else:
            content, ctype = orjson.dumps(resp.body), "application/json"
        if resp.status == 204:
            content, ctype = b"", None
        headers.update(cors or {})
        return resp.status, _raw_headers(resp.status, headers, content, ctype), content


async def _send(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:  # noqa: ANN001
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive, send) -> None:  # noqa: ANN001 - ASGI
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class PlacementApp:
    """The ASGI application of one `PlacementService` (HTTP and lifespan scopes)."""

    def __init__(self, service) -> None:  # noqa: ANN001 - PlacementService
        self.service = service
        self.dispatcher = Dispatcher(service)

    async def __call__(self, scope: dict, receive, send) -> None:  # noqa: ANN001 - ASGI
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: dict, receive, send) -> None:  # noqa: ANN001 - ASGI
        try:
            status, headers, body = await self.dispatcher(scope, receive)
        except _Disconnected:
            return
        except Exception:
            await _send(send, 500, [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", b"21")], b"Internal Server Error")
            raise
        await _send(send, status, headers, body)


def create_app(service="sqlite:///placement.db") -> PlacementApp:  # noqa: ANN001
    """The ASGI app serving `service`: a `PlacementService`, or a database URL to open one on."""
    if isinstance(service, str):
        from berth.centralised.placement.service import PlacementService
        return PlacementService(service).app
    return PlacementApp(service)
