"""The Placement ASGI application: auth, microversions, routing, error documents.

`create_app(service)` returns a Starlette app whose single catch-all endpoint walks the
route table (`berth.centralised.placement.routes`), in upstream's middleware order:
request id -> noauth2 token (401 without one, except on `/`) -> microversion (400/406)
-> route match (404 / 405 with `Allow`) -> microversion gate -> policy (403) -> handler.
Every `ApiError` becomes upstream's JSON error document; responses always carry the
`openstack-api-version` and `vary` headers.  Handlers run in the thread pool.
"""

from __future__ import annotations

import html
import re
import uuid

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from berth.centralised.placement import microversion as mv
from berth.centralised.placement.errors import ApiError, error_body
from berth.centralised.placement.request import Req, Resp
from berth.centralised.placement.routes import ROUTES, Gate

_REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]
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


class Dispatcher:
    """Turns a Starlette request into a `Req`, runs the gated handler, renders the result."""

    def __init__(self, service) -> None:  # noqa: ANN001 - PlacementService
        self.service = service

    async def __call__(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        given = headers.get("x-openstack-request-id", "")
        request_id = given if _REQ_ID.match(given) else f"req-{uuid.uuid4()}"
        version = None
        cors = self._cors(request.method, headers)
        if cors is not None and request.method == "OPTIONS":
            return Response(b"", 200, headers=cors)
        try:
            path = request.url.path
            if path not in ("/", "") and "x-auth-token" not in headers:
                raise ApiError(401, "The request you have made requires authentication.")
            version = mv.negotiate(headers.get(mv.HEADER))
            body = await request.body()
            req = self._build(request, headers, body, version, request_id)
            resp = await self._dispatch(req)
        except ApiError as err:
            resp = self._error(err, version, request_id, headers)
        location = resp.headers.get("location")
        if location and location.startswith("/"):
            resp.headers["location"] = f"{request.url.scheme}://{request.url.netloc}{location}"
        out = self._render(resp, version, request_id)
        out.headers.update(cors or {})
        return out

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

    def _build(self, request: Request, headers: dict, body: bytes, version: mv.Version,
               request_id: str) -> Req:
        user, project, roles = _identity(headers) if "x-auth-token" in headers else ("", "", [])
        clen = headers.get("content-length")
        if clen:
            if not clen.isdigit():
                raise ApiError(400, "content-length header must be an integer")
            if int(clen) > 0 and not headers.get("content-type"):
                raise ApiError(400, "content-type header required when content-length > 0")
        return Req(request.method, request.url.path, {}, request.query_params.multi_items(), headers,
                   body, version, roles, user, project, request_id, self.service)

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
        return await run_in_threadpool(gate.handler, req)

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

    def _render(self, resp: Resp, version: mv.Version | None, request_id: str) -> Response:
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
        return Response(content, resp.status, headers=headers, media_type=ctype)


def create_app(service="sqlite:///placement.db") -> Starlette:  # noqa: ANN001
    """The ASGI app serving `service`: a `PlacementService`, or a database URL to open one on."""
    if isinstance(service, str):
        from berth.centralised.placement.service import PlacementService
        return PlacementService(service).app
    dispatcher = Dispatcher(service)

    async def endpoint(request: Request) -> Response:
        return await dispatcher(request)
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=_METHODS)])
