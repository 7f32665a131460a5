"""Placement error values: the exception handlers raise and the JSON body clients read.

Handlers raise `ApiError` (or a helper below) for every expected client error; the
application (`berth.centralised.placement.app`) turns it into upstream's error document
`{"errors": [{"status", "title", "detail", "code", "request_id"}]}`, with `code` from
microversion 1.23 on.  The code strings are upstream Placement's, so clients that switch
on them (nova, neutron) behave the same against berth.
"""

from __future__ import annotations

DEFAULT = "placement.undefined_code"
INVENTORY_INUSE = "placement.inventory.inuse"
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
PROVIDER_CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"
RESOURCE_PROVIDER_NOT_FOUND = "placement.resource_provider.not_found"
ILLEGAL_DUPLICATE_QUERYPARAM = "placement.query.duplicate_key"
QUERYPARAM_BAD_VALUE = "placement.query.bad_value"
QUERYPARAM_MISSING_VALUE = "placement.query.missing_value"

TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 500: "Internal Server Error",
}


class ApiError(Exception):
    """An expected failure answered with `status` and a JSON error body."""

    def __init__(self, status: int, detail: str, code: str = DEFAULT,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers or {}


def bad_request(detail: str, code: str = DEFAULT) -> ApiError:
    return ApiError(400, detail, code)


def not_found(detail: str, code: str = DEFAULT) -> ApiError:
    return ApiError(404, detail, code)


def conflict(detail: str, code: str = DEFAULT) -> ApiError:
    return ApiError(409, detail, code)


def concurrent(detail: str) -> ApiError:
    return ApiError(409, detail, CONCURRENT_UPDATE)


def error_body(status: int, detail: str, code: str | None, request_id: str,
               extra: dict | None = None) -> dict:
    """The error document; `code` is None below microversion 1.23."""
    err: dict = {"status": status, "title": TITLES.get(status, "Error"), "detail": detail}
    if code is not None:
        err["code"] = code
    err["request_id"] = request_id
    err.update(extra or {})
    return {"errors": [err]}
