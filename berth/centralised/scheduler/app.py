"""The scheduler as a service: `POST /select_destinations` over HTTP (a Starlette app).

Body `{"request_spec": RequestSpec.to_json()}`; answer `{"selections": {...}}` or
`{"error": {"type": "NoValidHost", ...}}` (200 either way: no valid host is an outcome, not a
fault); a body without a usable request spec is a 400 `{"error": {"type": "BadRequest"}}`.
Several instances may serve at once against one Placement; the conductor spreads requests
over them.  Selection waits on Placement, so it runs in Starlette's thread pool.  Run by
`python -m berth.centralised.scheduler` and `berth up`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from berth.centralised import bodies
from berth.centralised.scheduler.manager import Scheduler
from berth.centralised.scheduler.request import RequestSpec

SELECT = {"type": "object", "required": ["request_spec"], "properties": {"request_spec": {"type": "object"}}}


def bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": "BadRequest", "message": message}}, 400)


def create_app(scheduler: Scheduler) -> Starlette:
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
        body = bodies.parse(await request.body(), SELECT)
        if isinstance(body, bodies.Problem):
            return bad_request(str(body))
        return await run_in_threadpool(choose, body["request_spec"])

    def health(_request: Request) -> Response:
        return JSONResponse({"ok": True, "lost_claims": scheduler.lost_claims})

    return Starlette(routes=[Route("/select_destinations", select, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])
