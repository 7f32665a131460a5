"""Node lifecycle: Lease heartbeats decide readiness; NoExecute taints evict after tolerationSeconds.

`reconcile_node(node, lease, now, grace)` is pure.  A node whose Lease was renewed within `grace`
seconds (upstream's node-monitor-grace-period) is alive; one that is not gets condition
Ready=Unknown and the `node.kubernetes.io/unreachable` taints (NoSchedule and NoExecute, with
`timeAdded`); a live node reporting Ready=False gets the `not-ready` taints instead; a healthy
node loses both.  `evictions(node, pods, now)` is upstream's taint manager: a pod on a node with
NoExecute taints is deleted at once if it does not tolerate one of them, or after the smallest
matching `tolerationSeconds` counted from the taint's `timeAdded`.  Pods without any toleration
for the not-ready/unreachable taints are treated as tolerating them for 300 s, which upstream's
DefaultTolerationSeconds admission adds.  Returns the next time worth checking again.
"""

from __future__ import annotations

from berth.declarative.controllers.actions import Action, Delete, Patch
from berth.declarative.controllers.pods import is_active
from berth.model import Taint, Toleration
from berth.model.timestamps import parse_rfc3339, rfc3339

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
OURS = (NOT_READY, UNREACHABLE)
DEFAULT_TOLERATION_SECONDS = 300
GRACE = 40.0


def _ready(node: dict) -> dict | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)


def heartbeat(node: dict, lease: dict | None) -> float | None:
    """The last sign of life: the Lease's renewTime, else the Ready condition's heartbeat."""
    renew = parse_rfc3339(((lease or {}).get("spec") or {}).get("renewTime"))
    if renew is not None:
        return renew
    ready = _ready(node) or {}
    return parse_rfc3339(ready.get("lastHeartbeatTime")) or parse_rfc3339(node["metadata"].get("creationTimestamp"))


def reconcile_node(node: dict, lease: dict | None, now: float, grace: float = GRACE) -> list[Action]:
    """Condition and taint changes for one node."""
    name, actions = node["metadata"]["name"], []
    beat = heartbeat(node, lease)
    alive = beat is not None and now - beat <= grace
    ready = _ready(node)
    if not alive and (ready is None or ready.get("status") != "Unknown"):
        conditions = [c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") != "Ready"]
        conditions.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                           "message": "Kubelet stopped posting node status.", "lastHeartbeatTime":
                           (ready or {}).get("lastHeartbeatTime") or rfc3339(beat or now),
                           "lastTransitionTime": rfc3339(now)})
        actions.append(Patch("nodes", name, {"status": {"conditions": conditions}}, sub="status"))
    if not alive:
        wanted = UNREACHABLE
    elif ready is not None and ready.get("status") == "False":
        wanted = NOT_READY
    else:
        wanted = None
    taints = (node.get("spec") or {}).get("taints") or []
    keep = [t for t in taints if t.get("key") not in OURS or t.get("key") == wanted]
    have = {(t.get("key"), t.get("effect")) for t in keep}
    if wanted:
        for effect in ("NoSchedule", "NoExecute"):
            if (wanted, effect) not in have:
                keep.append({"key": wanted, "effect": effect, "timeAdded": rfc3339(now)})
    if keep != taints:
        actions.append(Patch("nodes", name, {"spec": {"taints": keep}}))
    return actions


def _toleration(t: dict) -> Toleration:
    key = t.get("key", "") or ""
    return Toleration(key, t.get("operator") or ("Exists" if not key else "Equal"), t.get("value", "") or "",
                      t.get("effect") or None)


def eviction_time(pod: dict, taints: list[dict]) -> float | None:
    """When the pod must go because of NoExecute `taints` (None: never)."""
    tolerations = [(tol, _toleration(tol)) for tol in (pod.get("spec") or {}).get("tolerations") or []]
    trigger: float | None = None
    for t in taints:
        if t.get("effect") != "NoExecute":
            continue
        taint = Taint(t["key"], t.get("value", "") or "", "NoExecute")
        added = parse_rfc3339(t.get("timeAdded")) or 0.0
        matching = [raw for raw, tol in tolerations if tol.tolerates(taint)]
        if not matching and t["key"] in OURS:
            seconds: float | None = DEFAULT_TOLERATION_SECONDS
        elif not matching:
            return added
        else:
            limits = [raw.get("tolerationSeconds") for raw in matching]
            seconds = None if any(s is None for s in limits) else max(0, min(int(s) for s in limits))
        if seconds is not None:
            at = added + seconds
            trigger = at if trigger is None else min(trigger, at)
    return trigger


def evictions(node: dict, pods: list[dict], now: float) -> tuple[list[Action], float | None]:
    """Deletes due now for pods on `node`, and the earliest future eviction time (or None)."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
    if not taints:
        return [], None
    actions, later = [], None
    for pod in pods:
        if not is_active(pod):
            continue
        when = eviction_time(pod, taints)
        if when is None:
            continue
        if when <= now:
            meta = pod["metadata"]
            actions.append(Delete("pods", meta["name"], meta.get("namespace"), uid=meta.get("uid"),
                                  reason="taint manager eviction"))
        else:
            later = when if later is None else min(later, when)
    return actions, later
