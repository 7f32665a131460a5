"""Pod state as controllers read it: active, ready, available; and the order pods are deleted in.

Upstream semantics: a pod is *active* when it is neither terminating nor finished; *ready* when
its Ready condition is True; *available* when it has been ready for `minReadySeconds`.  When a
ReplicaSet has too many pods it deletes, first, those not yet on a node, then pending before
running, not-ready before ready, and the most recently created first.
"""

from __future__ import annotations

from berth.model.timestamps import parse_rfc3339


def is_active(pod: dict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def ready_since(pod: dict) -> float | None:
    """When the pod last became Ready, or None if it is not Ready."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return None
            return parse_rfc3339(cond.get("lastTransitionTime")) or 0.0
    return None


def is_ready(pod: dict) -> bool:
    return ready_since(pod) is not None


def is_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    since = ready_since(pod)
    return since is not None and (min_ready_seconds <= 0 or since + min_ready_seconds <= now)


def deletion_rank(pod: dict) -> tuple:
    """Sort key: pods that should go first sort first."""
    status = pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    created = parse_rfc3339(pod["metadata"].get("creationTimestamp")) or 0.0
    return (bool((pod.get("spec") or {}).get("nodeName")), phase_rank, is_ready(pod), -created,
            pod["metadata"]["name"])
