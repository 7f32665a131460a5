"""The Placement application: a Starlette app whose routes come from the route table.

`create_app(service)` gives one Starlette `Route` per path of `placement.routes.ROUTES` (and a
catch-all last, for the 404); every route runs the same request pipeline, in upstream's
middleware order: CORS preflight -> request id -> token (401 without a known one, except on
`/`; `service.auth` says who the caller is) -> microversion (400/406) -> content headers (400)
-> body, read up to `MAX_BODY` bytes (413 beyond, refused as soon as it is known) -> method
(405 with `Allow`) -> microversion gate -> policy (403) -> handler.  Every `ApiError` becomes
upstream's JSON error document (HTML when the client accepts only HTML), its detail clipped to
`MAX_DETAIL` characters so no answer echoes a whole request; responses always carry the
`openstack-api-version`, `vary` and `x-openstack-request-id` headers; an unexpected exception
is logged and answered with a 500 document and `Connection: close`, so a kept-alive client
sees the connection end cleanly instead of a reset.  Handlers that
may touch SQL run in a thread pool; a gate whose `runs` is "loop" (no SQL) or "fresh-index"
(while the candidate index is known current without SQL) runs its handler on the event loop
instead, which saves two thread switches per request.  Built by `PlacementService`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import html
import logging
import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from berth.centralised.placement import microversion as mv
from berth.centralised.placement.errors import ApiError, error_body
from berth.centralised.placement.request import Req, Resp
from berth.centralised.placement.routes import ROUTES, Gate
from berth.centralised.tokens import Authenticator, Identity

_REQ_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_THREADS = 40
"""Handler threads, shared by every app in the process (Starlette's default allows as many)."""
_POOL = cf.ThreadPoolExecutor(_THREADS, thread_name_prefix="placement")
MAX_BODY = 4 << 20
"""Bytes of request body read at most (upstream has no cap; its largest bodies, many consumers'
allocations or a reshape, stay far below)."""
MAX_DETAIL = 1024
"""Characters of an error's detail sent at most (each echoed value is clipped shorter)."""
LOG = logging.getLogger(__name__)


def _wants_html(accept: str) -> bool:
    """Errors are HTML (as webob renders them) when the client accepts HTML but not JSON."""
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()}
    return "text/html" in kinds and not kinds & {"application/json", "application/*", "*/*"}


def _cors(origins: tuple[str, ...], method: str, headers: dict[str, str]) -> dict[str, str] | None:
    """CORS response headers when CORS is configured (None when it is off)."""
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


def _check_content_headers(headers: dict[str, str]) -> None:
    clen = headers.get("content-length")
    if clen:
        if not clen.isdigit():
            raise ApiError(400, "content-length header must be an integer")
        if int(clen) > MAX_BODY:
            raise _too_large()
        if int(clen) > 0 and not headers.get("content-type"):
            raise ApiError(400, "content-type header required when content-length > 0")


def _too_large() -> ApiError:
    return ApiError(413, f"Request body is larger than the limit of {MAX_BODY} bytes.",
                    headers={"connection": "close"})


async def _body(request: Request) -> bytes:
    """The request body, or 413 as soon as it passes `MAX_BODY` (the rest is never read)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _pin_fresh_view(req: Req) -> bool:
    """True (and the view pinned on `req`) when the index is known current without SQL."""
    req.view = req.service.index.peek()
    return req.view is not None


_ON_LOOP = {  # Gate.runs -> may the handler run on the event loop for this request now?
    "thread": lambda _req: False,
    "loop": lambda _req: True,
    "fresh-index": _pin_fresh_view,
}


@dataclass
class Exchange:
    """One request on its way through the pipeline, and what its answer must carry."""

    request: Request
    headers: dict[str, str]
    request_id: str
    cors: dict[str, str] | None
    version: mv.Version | None = None
    who: Identity | None = None

    @classmethod
    def of(cls, request: Request, origins: tuple[str, ...]) -> Exchange:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]}
        given = headers.get("x-openstack-request-id", "")
        request_id = given if _REQ_ID.match(given) else f"req-{uuid.uuid4()}"
        return cls(request, headers, request_id, _cors(origins, request.method, headers))

    def admit(self, auth: Authenticator) -> None:
        """Upstream's checks before routing: token (401), version (400/406), content headers (400/413)."""
        self.who = auth.identify(self.headers)
        if self.request.scope["path"] not in ("/", "") and self.who is None:
            raise ApiError(401, "The request you have made requires authentication.")
        self.version = mv.negotiate(self.headers)
        _check_content_headers(self.headers)

    def req(self, body: bytes, service) -> Req:  # noqa: ANN001 - PlacementService
        who = self.who or Identity("", "", ())
        query = parse_qsl(self.request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
        return Req(self.request.method, self.request.scope["path"], dict(self.request.path_params), query,
                   self.headers, body, self.version, list(who.roles), who.user, who.project, self.request_id,
                   service)

    def failed(self, err: ApiError) -> Resp:
        """The error document (or page) for `err`."""
        if len(err.detail) > MAX_DETAIL:
            err.detail = err.detail[:MAX_DETAIL] + "..."
        if _wants_html(self.headers.get("accept", "")):
            page = f"<html><head><title>{err.status}</title></head><body><h1>{err.status}</h1>" \
                   f"{html.escape(err.detail)}</body></html>"
            return Resp(err.status, None, {**err.headers, "content-type": "text/html; charset=UTF-8"},
                        raw=page.encode())
        code = err.code if self.version is not None and self.version >= (1, 23) else None
        extra = {"max_version": str(mv.MAX), "min_version": str(mv.MIN)} \
            if err.status == 406 and self.version is None else None
        return Resp(err.status, error_body(err.status, err.detail, code, self.request_id, extra), dict(err.headers))

    def render(self, resp: Resp) -> Response:
        headers = dict(resp.headers)
        location = headers.get("location")
        if location and location.startswith("/"):
            headers["location"] = f"{self.request.url.scheme}://{self.request.url.netloc}{location}"
        headers["x-openstack-request-id"] = self.request_id
        headers[mv.HEADER] = f"{mv.SERVICE} {self.version or mv.MIN}"
        headers["vary"] = mv.HEADER
        if resp.raw is not None:
            content, ctype = resp.raw, headers.pop("content-type", "application/json")
        elif resp.body is None or resp.status == 204:
            content, ctype = b"", None
        else:
            content, ctype = orjson.dumps(resp.body), "application/json"
        headers.update(self.cors or {})
        return Response(content, resp.status, headers, media_type=ctype)


def _gate(gates: dict[str, Gate] | None, req: Req) -> Gate:
    """The route's gate for this request: 404 without a route, 405 / the gate's status outside it."""
    if gates is None:
        raise ApiError(404, "The resource could not be found.")
    gate = gates.get(req.method)
    if gate is None:
        raise ApiError(405, f"The method {req.method} is not allowed for this resource.",
                       headers={"allow": ", ".join(gates)})
    if not gate.min_version <= req.version <= gate.max_version:
        raise ApiError(gate.status, "The resource could not be found.")
    return gate


async def _run(gate: Gate, req: Req) -> Resp:
    if gate.json_reply and not req.accepts_json():
        raise ApiError(406, "Only application/json is provided")
    if gate.json_body:
        req.require_json()
    gate.policy(req)
    if _ON_LOOP[gate.runs](req):
        return gate.handler(req)
    return await asyncio.get_running_loop().run_in_executor(_POOL, gate.handler, req)


class Pipeline:
    """The ASGI app of one path (Starlette routes every method to it): `gates` maps the path's
    methods to their gates; None stands for no such path."""

    def __init__(self, service, gates: dict[str, Gate] | None) -> None:  # noqa: ANN001 - PlacementService
        self.service, self.gates = service, gates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        if response is not None:
            await response(scope, receive, send)

    async def answer(self, request: Request) -> Response | None:
        """The response to `request` (None if the client left before its body arrived)."""
        exchange = Exchange.of(request, self.service.cors_origins)
        if exchange.cors is not None and request.method == "OPTIONS":
            return Response(b"", 200, exchange.cors)
        try:
            exchange.admit(self.service.auth)
            req = exchange.req(await _body(request), self.service)
            resp = await _run(_gate(self.gates, req), req)
        except ApiError as err:
            resp = exchange.failed(err)
        except ClientDisconnect:
            return None
        except Exception:  # a bug: logged, answered, and this connection closed cleanly
            LOG.exception("%s %s failed", request.method, request.scope["path"])
            resp = exchange.failed(ApiError(500, "An unexpected error prevented the server from fulfilling "
                                                 "the request.", headers={"connection": "close"}))
        return exchange.render(resp)


def create_app(service) -> Starlette:  # noqa: ANN001 - PlacementService
    """The ASGI app serving `service` (a `PlacementService`)."""
    routes = [Route(path, Pipeline(service, gates)) for path, gates in ROUTES]
    return Starlette(routes=[*routes, Route("/{path:path}", Pipeline(service, None))])
