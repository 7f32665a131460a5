"""The scheduler as a service: `POST /select_destinations` over HTTP (FastAPI).

Body `{"request_spec": RequestSpec.to_json()}`; answer `{"selections": {...}}` or
`{"error": {"type": "NoValidHost", ...}}` (200 either way: no valid host is an outcome, not a
fault).  Several instances may serve at once against one Placement; the conductor spreads
requests over them.  Run by `python -m berth.centralised.scheduler` and `berth up`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from berth.centralised.scheduler.manager import Scheduler
from berth.centralised.scheduler.request import RequestSpec


class SelectBody(BaseModel):
    request_spec: dict


def create_app(scheduler: Scheduler) -> FastAPI:
    app = FastAPI(title="berth scheduler", version="1.0")

    @app.exception_handler(RequestValidationError)
    async def _bad(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": {"type": "BadRequest", "message": str(exc.errors()[:1])}}, 400)

    @app.post("/select_destinations")
    def select(body: SelectBody) -> JSONResponse:
        try:
            spec = RequestSpec.from_json(body.request_spec)
        except (TypeError, KeyError, ValueError) as err:
            return JSONResponse({"error": {"type": "BadRequest", "message": f"request_spec: {err}"}}, 400)
        result = scheduler.select_destinations(spec)
        if not result.ok:
            return JSONResponse({"error": result.to_json()})
        return JSONResponse({"selections": result.to_json()})

    @app.get("/healthz")
    def health() -> dict:
        return {"ok": True, "lost_claims": scheduler.lost_claims}

    return app
