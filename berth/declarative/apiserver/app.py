"""The ASGI application: URL parsing, the ROUTES table, and `create_app(store)`.

Resource URLs are parsed by hand (`/api/v1[/namespaces/{ns}]/{plural}[/{name}[/{sub}]]` and the same under
`/apis/{group}/{version}`) into a `Call`, then dispatched through ROUTES keyed by (target, method), where
target is 'collection', 'item' or a subresource name. Discovery and OpenAPI are plain routes.
The `Api` object holds the store, registry, watch hub and log source for the handlers.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from berth.declarative.apiserver import discovery, handlers, openapi, reviews, serviceaccounts, subresources
from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.access import Attributes, Chain
from berth.declarative.apiserver.gate import USER, Gate
from berth.declarative.apiserver.http import Call, json_response, problem_response
from berth.declarative.apiserver.kinds import BY_PATH, KINDS
from berth.declarative.apiserver.logs import AgentLogProxy, LogSource
from berth.declarative.apiserver.registry import Registry, utc_now
from berth.declarative.apiserver.schema import node_for
from berth.declarative.apiserver.watch import Hub
from berth.store import Store

log = logging.getLogger("berth.apiserver")

ROUTES = {
    ("collection", "GET"): handlers.list_or_watch,
    ("collection", "POST"): handlers.create,
    ("collection", "DELETE"): handlers.delete_collection,
    ("item", "GET"): handlers.get,
    ("item", "PUT"): handlers.replace,
    ("item", "PATCH"): handlers.patch,
    ("item", "DELETE"): handlers.delete,
    ("status", "GET"): handlers.get,
    ("status", "PUT"): handlers.replace,
    ("status", "PATCH"): handlers.patch,
    ("binding", "POST"): subresources.bind,
    ("eviction", "POST"): subresources.evict,
    ("log", "GET"): subresources.logs,
    ("scale", "GET"): subresources.get_scale,
    ("scale", "PUT"): subresources.put_scale,
    ("scale", "PATCH"): subresources.patch_scale,
    ("finalize", "PUT"): handlers.replace,
    ("token", "POST"): serviceaccounts.token_request,
}


class Api:
    """Everything the handlers share."""

    def __init__(self, store: Store, log_source: LogSource | None = None, clock=utc_now,
                 max_watch_seconds: float = 1800) -> None:
        self.store = store
        self.max_watch_seconds = max_watch_seconds
        for spec in KINDS:  # build the schemas now, not on the first request
            node_for(spec.model)
        self.registry = Registry(store, clock)
        self.hub = Hub(store)
        self.logs = log_source or AgentLogProxy()
        store.flush()
        self._waiting: list[asyncio.Future] = []

    async def durable(self) -> None:
        """Wait until every write so far is committed: one commit per event-loop turn for all waiters.

        Each waiter has a future of its own, so one that is cancelled (its client went away) affects no other."""
        if not self.store.dirty:
            return
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._flush)
        future = loop.create_future()
        self._waiting.append(future)
        await future

    def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        try:
            self.store.flush()
        except Exception as err:  # I/O failure: every waiter answers 500 rather than acknowledging
            for future in waiting:
                if not future.done():
                    future.set_exception(err)
        else:
            for future in waiting:
                if not future.done():
                    future.set_result(None)


def parse(group: str, version: str, segments: list[str], request: Request) -> Call | st.Problem:
    """Split the path after the group-version into a Call, or a 404 Problem."""
    ns = ""
    if len(segments) >= 3 and segments[0] == "namespaces" and segments[2] not in ("status", "finalize"):
        ns, segments = segments[1], segments[2:]
    if not 1 <= len(segments) <= 3 or not all(segments):
        return st.not_found_path(request.url.path)
    spec = BY_PATH.get((group, version, segments[0]))
    if spec is None or (ns and not spec.namespaced):
        return st.not_found_path(request.url.path)
    name = segments[1] if len(segments) > 1 else ""
    sub = segments[2] if len(segments) > 2 else ""
    if sub and sub not in spec.subresources:
        return st.not_found_path(request.url.path)
    return Call(spec, ns, name, sub, request)


async def dispatch(api: Api, request: Request, group: str, version: str, rest: str) -> Response:
    call = parse(group, version, rest.split("/"), request)
    if isinstance(call, st.Problem):
        return problem_response(call)
    target = call.sub or ("item" if call.name else "collection")
    handler = ROUTES.get((target, request.method))
    if call.spec.plural in reviews.REVIEWS:  # create-only kinds, never stored
        handler = reviews.review if (target, request.method) == ("collection", "POST") else None
    if handler is None:
        return problem_response(st.method_not_allowed(request.method, request.url.path))
    return await handler(api, call)


def create_app(store: Store, *, access: Chain, log_source: LogSource | None = None, clock=utc_now,
               max_watch_seconds: float = 1800, issuer: serviceaccounts.Issuer | None = None,
               max_watches: int = 100) -> "FastPath":
    """The API server as an ASGI app over `store` (run it with uvicorn; see berth.declarative.apiserver).

    Every request passes `access` (authentication, then authorisation; see `gate`): there is no default.
    `max_watch_seconds` caps every watch stream (upstream picks 30-60 min); clients reconnect after it.
    `issuer` signs the tokens of `serviceaccounts/token` (without it that subresource answers 404);
    `max_watches` caps each user's open watches (429 past it).
    """
    api = Api(store, log_source, clock, max_watch_seconds)
    api.issuer = issuer
    api.access = access  # the chain, for reviews that ask it on a user's behalf

    async def core(request: Request) -> Response:
        return await dispatch(api, request, "", "v1", request.path_params["rest"])

    async def grouped(request: Request) -> Response:
        p = request.path_params
        return await dispatch(api, request, p["group"], p["version"], p["rest"])

    async def version(request: Request) -> Response:
        return json_response(discovery.VERSION)

    async def core_root(request: Request) -> Response:
        return json_response(discovery.api_versions())

    async def groups(request: Request) -> Response:
        return json_response(discovery.api_groups())

    async def group(request: Request) -> Response:
        body = discovery.api_group(request.path_params["group"])
        return json_response(body) if body else problem_response(st.not_found_path(request.url.path))

    async def resources(request: Request) -> Response:
        p = request.path_params
        body = discovery.resource_list(p.get("group", ""), p.get("version", "v1"))
        return json_response(body) if body else problem_response(st.not_found_path(request.url.path))

    async def openapi_index(request: Request) -> Response:
        return json_response(openapi.index())

    async def openapi_doc(request: Request) -> Response:
        doc = openapi.document(request.path_params["path"])
        return JSONResponse(doc) if doc else problem_response(st.not_found_path(request.url.path))

    async def healthy(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/version", version), Route("/healthz", healthy), Route("/livez", healthy), Route("/readyz", healthy),
        Route("/api", core_root), Route("/api/v1", resources), Route("/api/v1/{rest:path}", core,
                                                                      methods=list(METHODS)),
        Route("/apis", groups), Route("/apis/{group}", group), Route("/apis/{group}/{version}", resources),
        Route("/apis/{group}/{version}/{rest:path}", grouped, methods=list(METHODS)),
        Route("/openapi/v3", openapi_index), Route("/openapi/v3/{path:path}", openapi_doc),
    ]
    app = Starlette(routes=routes)
    app.state.api = api
    return FastPath(app, api, Gate(access, max_watches))


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class FastPath:
    """The outer ASGI app: every HTTP request passes the `Gate` first (401, 403, 429); then resource requests
    go straight to `dispatch` (the hot path: no router scan and no middleware layers) and everything else
    (discovery, OpenAPI, health) goes through the Starlette app."""

    def __init__(self, app: Starlette, api: Api, gate: Gate) -> None:
        self.app = app
        self.state = app.state
        self.api = api
        self.gate = gate

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        attrs = self.gate.admit(scope)
        if not isinstance(attrs, Attributes):
            return await attrs(scope, receive, send)
        if attrs.verb != "watch":
            return await self._route(scope, receive, send)
        with self.gate.watch(scope[USER]) as refused:  # counted against its user's cap while it streams
            await (refused or self._route)(scope, receive, send)

    async def _route(self, scope, receive, send) -> None:
        if scope["method"] in METHODS:
            parts = scope["path"].split("/", 4)
            if len(parts) == 5 and parts[1] == "apis" and parts[4]:
                return await self._serve(scope, receive, send, parts[2], parts[3], parts[4])
            if len(parts) >= 4 and parts[1] == "api" and parts[2] == "v1" and parts[3]:
                return await self._serve(scope, receive, send, "", "v1", scope["path"][len("/api/v1/"):])
        await self.app(scope, receive, send)

    async def _serve(self, scope, receive, send, group: str, version: str, rest: str) -> None:
        request = Request(scope, receive)
        try:
            response = await dispatch(self.api, request, group, version, rest)
            await self.api.durable()  # nothing is acknowledged or shown before it is committed
        except orjson.JSONEncodeError as err:  # before any store write: nested too deeply, or a huge integer
            response = problem_response(st.bad_request(f"the object cannot be stored: {err}"))
        except Exception:  # a bug, never bad input: log it and answer a Status, as upstream does
            log.exception("internal error serving %s %s", scope["method"], scope["path"])
            response = problem_response(st.Problem(500, "InternalError", "an internal error occurred; see the"
                                                   " server log"))
        await response(scope, receive, send)
