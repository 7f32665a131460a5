"""Pure decisions of a build: group-policy late checks and the faults a failed build records.

`group_violation` is Nova's late check (`_validate_instance_group_policy`): once a build has a
host, the group's other members are read again, so two parallel builds of one anti-affinity
group cannot both land on one host.  `fault` words failures as Nova does (NoValidHost,
MaxRetriesExceeded) with the reasons kept as data.  No I/O; called by `service.Conductor`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NO_VALID_HOST = "NoValidHost"
MAX_RETRIES = "MaxRetriesExceeded"


def group_violation(policy: str | None, host: str, others: list[str]) -> str | None:
    """Why placing on `host` breaks the group `policy` given the other members' hosts, or None."""
    if policy == "anti-affinity" and host in others:
        return f"Anti-affinity instance group policy was violated: another member is on {host}"
    if policy == "affinity" and others and any(h != host for h in others):
        return f"Affinity instance group policy was violated: members are on {sorted(set(others))}"
    return None


@dataclass
class Attempts:
    """What happened to each host tried for one build, in order."""

    failures: list[tuple[str, str]] = field(default_factory=list)

    def failed(self, host: str, why: str) -> None:
        self.failures.append((host, why))

    @property
    def hosts(self) -> list[str]:
        return [h for h, _ in self.failures]


def fault(kind: str, message: str, details: dict | None = None, now: str = "") -> dict:
    """A server fault record, shaped like Nova's `fault` (code 500 for scheduling failures)."""
    return {"code": 500, "message": f"{kind}: {message}" if kind else message,
            "details": details or {}, "created": now}


def exhausted(instance: str, attempts: Attempts) -> tuple[str, dict]:
    """The MaxRetriesExceeded message and details once every selected host failed."""
    return (f"Exceeded maximum number of retries. Exhausted all hosts available for retrying build "
            f"failures for instance {instance}.", {"attempts": [{"host": h, "reason": r} for h, r in attempts.failures]})
