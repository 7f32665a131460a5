"""Errors of the compute API, in Nova's bodies: `{"badRequest": {"code": 400, "message": ...}}`.

Handlers raise `ApiError(status, message)` for every expected refusal; `error` renders any
status as Nova names it.  Used by `compute.routes`, `compute.microversion` and the exception
handlers `compute.api.create_app` installs.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

ERROR_KEYS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
              405: "methodNotAllowed", 406: "notAcceptable", 409: "conflict", 413: "overLimit",
              415: "badMediaType"}


def error(status: int, message: str) -> JSONResponse:
    key = ERROR_KEYS.get(status, "computeFault")
    return JSONResponse({key: {"code": status, "message": message}}, status_code=status)


class ApiError(Exception):
    """An expected refusal, answered with `status` and Nova's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
