"""Compute API microversions, negotiated as Nova does (2.1 up to 2.64).

A request may send `OpenStack-API-Version: compute 2.N` (among other services' entries, in any
order), or the older `X-OpenStack-Nova-API-Version: 2.N`, or `latest`; none means 2.1.  The
header is read with `microversion_parse`, as Nova reads it.  A malformed value is a 400, a
version outside [2.1, 2.64] a 406; every response says which version served it and that
responses vary by it.  The features this API has (server group rules, `host_status`) are those
of 2.64, so the version only changes the negotiation, not the bodies.  `Microversions` is a
pure ASGI middleware, installed by `compute.api.create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass

import microversion_parse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from berth.centralised.compute.errors import error

SERVICE = "compute"
MIN, MAX = (2, 1), (2, 64)
LEGACY = "x-openstack-nova-api-version"


@dataclass(frozen=True)
class Outcome:
    """The version a request is served at, or why it is refused (status and message)."""

    version: tuple[int, int] = MIN
    status: int = 200
    message: str = ""

    def stamp(self) -> dict[str, str]:
        """The response headers naming the version served."""
        text = f"{self.version[0]}.{self.version[1]}"
        return {"OpenStack-API-Version": f"{SERVICE} {text}", "X-OpenStack-Nova-API-Version": text,
                "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}


def requested(headers) -> str | None:  # noqa: ANN001 - any mapping of header names to values
    """The compute version asked for, or None if the request names none."""
    return microversion_parse.get_version(headers, SERVICE, legacy_headers=[LEGACY])


def negotiate(text: str | None) -> Outcome:
    """The version to serve for the requested `text`, or a 400/406 refusal."""
    if text is None:
        return Outcome()
    if text.strip().lower() == "latest":
        return Outcome(MAX)
    try:
        version = tuple(microversion_parse.parse_version_string(text))
    except TypeError:
        return Outcome(status=400, message=f"Version {text!r} is not a valid microversion (MAJOR.MINOR or latest)")
    if not MIN <= version <= MAX:
        return Outcome(status=406, message=f"Version {text} is not supported by the API. "
                                           "Minimum is 2.1 and maximum is 2.64.")
    return Outcome(version)


class Microversions:
    """Refuses a bad version before the app sees the request; stamps every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        outcome = negotiate(requested(Headers(scope=scope)))
        if outcome.status != 200:
            refusal = error(outcome.status, outcome.message)
            refusal.headers.update(outcome.stamp())
            await refusal(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(outcome.stamp())
            await send(message)

        await self.app(scope, receive, stamped)
