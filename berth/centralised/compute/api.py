"""The compute API: an ASGI (FastAPI) app shaped like Nova's, over a `Repo` and a clock.

Routes: `/flavors`, `/servers` (create returns 202 and leaves the build to the conductor),
`/os-server-groups`, `/os-availability-zone`, and `/os-services` where compute agents report
themselves.  Errors use Nova's bodies (`{"badRequest": {"code": 400, "message": ...}}`); bad
input is a 400 naming the field and changes nothing.  `create_app(repo, clock, notify=...)`:
`notify(server_id)` is called after each create or delete so an in-process conductor can start
at once (others poll).  Microversions are negotiated as Nova does (`compute.microversion`).
Served by `python -m berth.centralised.compute` or `berth up`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from berth.centralised.compute.db import Conflict, Repo
from berth.centralised.compute.microversion import Microversions
from berth.runtime.clock import Clock, SystemClock

ERROR_KEYS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
              405: "methodNotAllowed", 409: "conflict", 413: "overLimit", 415: "badMediaType"}
SERVICE_DOWN_TIME = 60.0


def error(status: int, message: str) -> JSONResponse:
    key = ERROR_KEYS.get(status, "computeFault")
    return JSONResponse({key: {"code": status, "message": message}}, status_code=status)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def credentials(x_auth_token: str | None = Header(default=None)) -> tuple[str, str]:
    """noauth-style identity: token `user[:project]`; no token means `admin`."""
    token = (x_auth_token or "admin").strip() or "admin"
    user, _, project = token.partition(":")
    return user, project or user


def create_app(repo: Repo, clock: Clock | None = None, notify: Callable[[str], None] | None = None,
               service_down_time: float = SERVICE_DOWN_TIME) -> FastAPI:
    clock = clock or SystemClock()
    app = FastAPI(title="berth compute API", version="2.64",
                  description="berth's Nova-shaped compute API: flavors, servers, server groups, zones.")
    app.state.repo, app.state.clock = repo, clock
    app.state.notify = notify or (lambda _id: None)
    app.state.down_after = service_down_time
    _install_errors(app)
    app.add_middleware(Microversions)
    from berth.centralised.compute import routes
    app.include_router(routes.router)
    return app


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _bad_input(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(400, f"Invalid input for field/attribute {where or 'body'}: {first.get('msg')}")

    @app.exception_handler(HTTPException)
    async def _http(_req: Request, exc: HTTPException) -> Response:
        resp = error(exc.status_code, str(exc.detail))
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(ApiError)
    async def _api(_req: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(Conflict)
    async def _conflict(_req: Request, exc: Conflict) -> JSONResponse:
        return error(409, f"Conflict: {exc}")


def new_id() -> str:
    return str(uuid.uuid4())
