"""Compute API microversions, negotiated as Nova does (2.1 up to 2.64).

A request may send `OpenStack-API-Version: compute 2.N` (or the older
`X-OpenStack-Nova-API-Version: 2.N`, or `latest`); none means 2.1.  A malformed value is a 400,
a version outside [2.1, 2.64] a 406; every response says which version served it and that
responses vary by it.  The features this API has (server group rules, `host_status`) are those
of 2.64, so the version only changes the negotiation, not the bodies.  Installed by
`compute.api.create_app`.
"""

from __future__ import annotations

import re

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MIN, MAX = (2, 1), (2, 64)
HEADER, LEGACY = "openstack-api-version", "x-openstack-nova-api-version"
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


def requested(headers) -> str | None:
    """The compute version asked for, or None if the request names none."""
    value = headers.get(HEADER)
    if value is not None:
        service, _, version = value.strip().partition(" ")
        return version.strip() if service.lower() == "compute" else None
    return headers.get(LEGACY)


def negotiate(text: str | None) -> tuple[int, int] | tuple[int, str]:
    """(major, minor) to serve, or (status, message) for a refusal."""
    if text is None:
        return MIN
    if text.strip().lower() == "latest":
        return MAX
    found = _VERSION.match(text.strip())
    if not found:
        return 400, f"Version {text!r} is not a valid microversion (MAJOR.MINOR or latest)"
    version = (int(found.group(1)), int(found.group(2)))
    if not MIN <= version <= MAX:
        return 406, f"Version {text} is not supported by the API. Minimum is 2.1 and maximum is 2.64."
    return version


class Microversions(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next) -> Response:
        result = negotiate(requested(request.headers))
        if isinstance(result[1], str):
            status, message = result
            key = "badRequest" if status == 400 else "notAcceptable"
            resp: Response = JSONResponse({key: {"code": status, "message": message}}, status_code=status)
            version = MIN
        else:
            resp, version = await call_next(request), result
        text = f"{version[0]}.{version[1]}"
        resp.headers["OpenStack-API-Version"] = f"compute {text}"
        resp.headers["X-OpenStack-Nova-API-Version"] = text
        resp.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return resp
