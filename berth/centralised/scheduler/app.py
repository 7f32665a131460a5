"""The scheduler as a service: `POST /select_destinations` over HTTP (a Starlette app).

Body `{"request_spec": RequestSpec.to_json()}`; answer `{"selections": {...}}` or
`{"error": {"type": "NoValidHost", ...}}` (200 either way: no valid host is an outcome, not a
fault); a body without a usable request spec is a 400 `{"error": {"type": "BadRequest"}}`.
Several instances may serve at once against one Placement; the conductor spreads requests
over them.  Selection waits on Placement, so it runs in Starlette's thread pool.  Every call
but `/healthz` needs a token `tokens` knows (401 `Unauthorized`), and selecting needs the
service role (403 `Forbidden`): the conductor's service token.  Run by
`python -m berth.centralised.scheduler` and `berth up`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.middleware import Middleware
from starlette.routing import Route

from berth.centralised import bodies, guard
from berth.centralised.scheduler.manager import Scheduler
from berth.centralised.scheduler.request import RequestSpec
from berth.centralised.tokens import Authenticator

SELECT = {"type": "object", "required": ["request_spec"], "properties": {"request_spec": {"type": "object"}}}


ERROR_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden"}


def refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": ERROR_TYPES[status], "message": message}}, status)


def bad_request(message: str) -> JSONResponse:
    return refuse(400, message)


def create_app(scheduler: Scheduler, *, tokens: Authenticator) -> Starlette:
    def choose(raw: dict) -> Response:
        try:
            spec = RequestSpec.from_json(raw)
        except (TypeError, KeyError, ValueError) as err:
            return bad_request(f"request_spec: {err}")
        result = scheduler.select_destinations(spec)
        if not result.ok:
            return JSONResponse({"error": result.to_json()})
        return JSONResponse({"selections": result.to_json()})

    async def select(request: Request) -> Response:
        if not guard.allows("service", guard.identity(request.scope)):
            return refuse(403, "Policy doesn't allow scheduler:select_destinations to be performed.")
        body = bodies.parse(await request.body(), SELECT)
        if isinstance(body, bodies.Problem):
            return bad_request(str(body))
        return await run_in_threadpool(choose, body["request_spec"])

    def health(_request: Request) -> Response:
        return JSONResponse({"ok": True, "lost_claims": scheduler.lost_claims})

    check = Middleware(guard.TokenCheck, tokens=tokens, refuse=refuse, open_paths=frozenset({"/healthz"}))
    return Starlette(routes=[Route("/select_destinations", select, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])], middleware=[check])
