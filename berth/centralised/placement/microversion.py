"""Microversions of the Placement API (1.0 to 1.39) and their negotiation.

`negotiate` reads the `OpenStack-API-Version` header of a request with `microversion_parse`,
as upstream does: the placement entry among any other services' (in any order); absent means
the minimum (1.0), `latest` means the maximum, a malformed value is a 400, a well-formed value
outside [MIN, MAX] is a 406 whose body carries min/max so clients can fall back.  `Version`
compares as a tuple; the route table gates handlers with it.  Called by
`berth.centralised.placement.app` once per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import microversion_parse

from berth.centralised.placement.errors import ApiError

SERVICE = "placement"
HEADER = "openstack-api-version"


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, minor: int) -> bool:
        return self >= (1, minor)


MIN = Version(1, 0)
MAX = Version(1, 39)


def parse(text: str) -> Version:
    """'1.27' -> Version(1, 27); 'latest' -> MAX; anything else -> 400."""
    text = text.strip()
    if text == "latest":
        return MAX
    try:
        return Version(*microversion_parse.parse_version_string(text))
    except TypeError:
        raise ApiError(400, f"invalid version string: {text}") from None


def negotiate(headers: Mapping[str, str]) -> Version:
    """The version a request with these (lower-cased) headers asks for; ApiError 400/406 on a bad one."""
    value = microversion_parse.get_version({HEADER: headers[HEADER]}, SERVICE) if HEADER in headers else None
    if value is None:
        return MIN
    version = parse(value)
    if not MIN <= version <= MAX:
        raise ApiError(406, f"Unacceptable version header: {value}")
    return version
