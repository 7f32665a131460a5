"""RFC 3339 timestamps in UTC, as both planes write and read them.

`rfc3339(seconds)` gives whole seconds (`2024-05-01T12:00:07Z`: Kubernetes' metav1.Time, Nova's `created`
and `updated`), `rfc3339_micro(seconds)` microseconds (`2024-05-01T12:00:07.250000Z`: metav1.MicroTime, a
Lease's renewTime), and `parse_rfc3339(text)` seconds since the epoch back from either. Pure: callers on a
hot path memoise per second themselves (the API server's registry, the agent's pod status).
"""

from __future__ import annotations

from datetime import datetime, timezone

SECONDS = "%Y-%m-%dT%H:%M:%SZ"
MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%fZ"


def rfc3339(seconds: float) -> str:
    """Seconds since the epoch, fractions dropped, as `YYYY-MM-DDTHH:MM:SSZ`."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(SECONDS)


def rfc3339_micro(seconds: float) -> str:
    """Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(MICROSECONDS)


def parse_rfc3339(text: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (with or without fractions), None if absent;
    ValueError if it is not one."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
