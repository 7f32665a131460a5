"""The compute API: a Starlette app shaped like Nova's, over a `Repo` and a clock.

Routes (`compute.routes.ROUTES`): `/flavors`, `/servers` (create returns 202 and leaves the
build to the conductor), `/os-server-groups`, `/os-availability-zone`, and `/os-services`
where compute agents report themselves; `/openapi.json` documents them, bodies included.
Errors use Nova's bodies (`compute.errors`); a body is validated against its JSON Schema
before the handler runs, so bad input is a 400 naming the field and changes nothing.
`create_app(repo, clock, notify=...)`: `notify(server_id)` is called after each create or
delete so an in-process conductor can start at once (others poll).  Microversions are
negotiated as Nova does (`compute.microversion`).  Every request but the version document
needs a token `tokens` knows (401 otherwise, `guard.TokenCheck`), and the caller's roles must
meet the route's rule (403 worded as Nova's policy refusals).  `agent_token` (the service token)
is what it reads servers' console logs from their agents with (`compute.consoles`).  Handlers may wait on SQL, so they run in
Starlette's thread pool.  Served by `python -m berth.centralised.compute` or `berth up`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from berth.centralised import bodies, guard
from berth.centralised.compute.consoles import AgentConsoles
from berth.centralised.compute.db import Conflict, Repo
from berth.centralised.compute.errors import ApiError, error
from berth.centralised.compute.microversion import MAX, Microversions
from berth.centralised.compute.routes import ROUTES, Call, Op
from berth.centralised.tokens import Authenticator
from berth.runtime.clock import Clock, SystemClock

SERVICE_DOWN_TIME = 60.0
TITLE = "berth compute API"
DESCRIPTION = "berth's Nova-shaped compute API: flavors, servers, server groups, zones."


def endpoint(op: Op) -> Callable[[Request], object]:
    """The Starlette endpoint of one route: validate the body, run the handler, answer."""
    action = f"os_compute_api:{op.tag.replace(' ', '-')}:{op.method.lower()}"

    async def run(request: Request) -> Response:
        if op.rule != "any" and not guard.allows(op.rule, guard.identity(request.scope)):
            raise ApiError(403, f"Policy doesn't allow {action} to be performed.")
        body = bodies.parse(await request.body(), op.body) if op.body is not None else None
        if isinstance(body, bodies.Problem):
            raise ApiError(400, str(body))
        result = await run_in_threadpool(op.handler, Call(request, body))
        if result is None:
            return Response(status_code=op.status)
        return JSONResponse(result, status_code=op.status)
    return run


def _http(_req: Request, exc: HTTPException) -> Response:
    resp = error(exc.status_code, str(exc.detail))
    resp.headers.update(exc.headers or {})
    return resp


ERROR_HANDLERS = {
    HTTPException: _http,
    ApiError: lambda _req, exc: error(exc.status, exc.message),
    Conflict: lambda _req, exc: error(409, f"Conflict: {exc}"),
}


def create_app(repo: Repo, clock: Clock | None = None, notify: Callable[[str], None] | None = None,
               service_down_time: float = SERVICE_DOWN_TIME, *, tokens: Authenticator,
               agent_token: str | None = None) -> Starlette:
    routes = [Route(op.path, endpoint(op), methods=[op.method]) for op in ROUTES]
    routes.append(Route("/openapi.json", lambda _req: JSONResponse(openapi(ROUTES)), methods=["GET"]))
    check = Middleware(guard.TokenCheck, tokens=tokens, refuse=error, open_paths=frozenset({"/", "/openapi.json"}))
    app = Starlette(routes=routes, middleware=[check, Middleware(Microversions)], exception_handlers=ERROR_HANDLERS)
    app.state.repo, app.state.clock = repo, clock or SystemClock()
    app.state.notify = notify or (lambda _id: None)
    app.state.down_after = service_down_time
    app.state.consoles = AgentConsoles(agent_token)
    return app


# ---- the OpenAPI document ----------------------------------------------------------------
def _operation(op: Op) -> dict:
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in re.findall(r"\{(\w+)\}", op.path)]
    params += [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in op.query]
    doc: dict = {"tags": [op.tag], "operationId": op.method.lower() + re.sub(r"\W+", "_", op.path).rstrip("_"),
                 "parameters": params, "responses": {str(op.status): {"description": "Success"}}}
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    return doc


def openapi(routes: list[Op]) -> dict:
    """An OpenAPI 3.1 document of `routes`, their bodies' JSON Schemas included."""
    paths: dict[str, dict] = {}
    for op in routes:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {"openapi": "3.1.0", "paths": paths,
            "info": {"title": TITLE, "version": f"{MAX[0]}.{MAX[1]}", "description": DESCRIPTION}}
