"""Microversions of the Placement API (1.0 to 1.39) and their negotiation.

`negotiate` reads the `OpenStack-API-Version` header of a request the way upstream does:
absent means the minimum (1.0), `latest` means the maximum, a malformed value is a 400, a
well-formed value outside [MIN, MAX] is a 406 whose body carries min/max so clients can
fall back.  `Version` compares as a tuple; the route table gates handlers with it.
Called by `berth.centralised.placement.app` once per request.
"""

from __future__ import annotations

import re
from typing import NamedTuple

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
_FORMAT = re.compile(r"^(\d+)\.(\d+)$")


def parse(text: str) -> Version:
    """'1.27' -> Version(1, 27); 'latest' -> MAX; anything else -> 400."""
    text = text.strip()
    if text == "latest":
        return MAX
    match = _FORMAT.match(text)
    if not match:
        raise ApiError(400, f"invalid version string: {text}")
    return Version(int(match.group(1)), int(match.group(2)))


def _placement_value(header: str) -> str | None:
    """The placement entry of a possibly multi-service header value."""
    for part in header.split(","):
        words = part.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() == SERVICE:
            return words[1]
    return None


def negotiate(header: str | None) -> Version:
    """The version a request asks for; raises ApiError 400/406 on a bad header."""
    value = _placement_value(header) if header else None
    if value is None:
        return MIN
    version = parse(value)
    if not MIN <= version <= MAX:
        raise ApiError(406, f"Unacceptable version header: {value}")
    return version
