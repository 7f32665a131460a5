"""The Deployment reconciler: rolling updates (maxSurge, maxUnavailable), Recreate, scaling, status.

`reconcile_deployment(d, replicasets, now)` is pure.  The ReplicaSet whose `pod-template-hash`
label equals the hash of the Deployment's current template is the *new* one (created if
missing, with the next `deployment.kubernetes.io/revision`); the others are *old*.  RollingUpdate
follows upstream's arithmetic: scale the new ReplicaSet up while the total stays within
`replicas + maxSurge`; scale old ones down (unhealthy replicas first, oldest first) while at least
`replicas - maxUnavailable` stay available.  Status carries what `kubectl rollout status` reads:
observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas, and the
Available and Progressing conditions (NewReplicaSetAvailable once complete).
"""

from __future__ import annotations

import copy
import math

from berth.declarative.controllers.actions import Action, Create, Delete, Patch, Update, owner_ref, template_hash
from berth.model.timestamps import parse_rfc3339, rfc3339

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
HISTORY_LIMIT = 10


def resolve(value: object, total: int, round_up: bool) -> int:
    """An IntOrString (`2` or `"25%"`) against `total`."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def surge_and_unavailable(d: dict, replicas: int) -> tuple[int, int]:
    rolling = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _spec(rs: dict) -> int:
    return int((rs.get("spec") or {}).get("replicas", 0))


def _stat(rs: dict, field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0))


def _revision(rs: dict) -> int:
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def new_replicaset(d: dict, h: str, replicas: int, revision: int) -> dict:
    meta, spec = d["metadata"], d["spec"]
    template = copy.deepcopy(spec["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
    selector = copy.deepcopy(spec["selector"])
    selector.setdefault("matchLabels", {})[HASH_LABEL] = h
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{h}", "namespace": meta.get("namespace", "default"),
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {REVISION: str(revision)}, "ownerReferences": [owner_ref(d)]},
            "spec": {"replicas": replicas, "selector": selector, "template": template,
                     "minReadySeconds": spec.get("minReadySeconds", 0)}}


def reconcile_deployment(d: dict, replicasets: list[dict], now: float) -> list[Action]:
    """Actions for one pass over a Deployment and the ReplicaSets it controls."""
    meta, spec = d["metadata"], d.get("spec") or {}
    if meta.get("deletionTimestamp"):
        return []
    replicas = int(spec.get("replicas", 1))
    h = template_hash(spec.get("template") or {})
    new = next((rs for rs in replicasets if (rs["metadata"].get("labels") or {}).get(HASH_LABEL) == h), None)
    old = sorted((rs for rs in replicasets if rs is not new), key=lambda rs: (_revision(rs), rs["metadata"]["name"]))
    actions: list[Action] = []
    if spec.get("paused"):
        return _status(d, new, old, replicasets, now, replicas)
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        actions += _recreate(d, h, new, old, replicas)
    else:
        actions += _rolling(d, h, new, old, replicas)
    actions += _cleanup(old)
    return actions + _status(d, new, old, replicasets, now, replicas)


def _scale(rs: dict, replicas: int) -> Patch:
    meta = rs["metadata"]
    return Patch("replicasets", meta["name"], {"spec": {"replicas": replicas}}, meta.get("namespace"))


def _create_new(d: dict, h: str, old: list[dict], replicas: int) -> Create:
    revision = max((_revision(rs) for rs in old), default=0) + 1
    return Create("replicasets", new_replicaset(d, h, replicas, revision), d["metadata"].get("namespace"))


def _rolling(d: dict, h: str, new: dict | None, old: list[dict], replicas: int) -> list[Action]:
    surge, max_unavailable = surge_and_unavailable(d, replicas)
    total = sum(_spec(rs) for rs in old) + (_spec(new) if new else 0)
    if new is None:
        start = replicas if not old else max(0, min(replicas, replicas + surge - total))
        return [_create_new(d, h, old, start)]
    if _spec(new) > replicas:
        return [_scale(new, replicas)]
    if _spec(new) < replicas:
        room = min(replicas + surge - total, replicas - _spec(new))
        if room > 0:
            return [_scale(new, _spec(new) + room)]
    return _scale_down_old(new, old, replicas, max_unavailable)


def _scale_down_old(new: dict, old: list[dict], replicas: int, max_unavailable: int) -> list[Action]:
    min_available = replicas - max_unavailable
    all_pods = sum(_spec(rs) for rs in old) + _spec(new)
    new_unavailable = max(0, _spec(new) - _stat(new, "availableReplicas"))
    budget = all_pods - min_available - new_unavailable
    targets = {rs["metadata"]["name"]: _spec(rs) for rs in old}
    for rs in old:  # unhealthy old replicas first
        cut = min(budget, max(0, targets[rs["metadata"]["name"]] - _stat(rs, "availableReplicas")))
        if cut > 0:
            targets[rs["metadata"]["name"]] -= cut
            budget -= cut
    available = sum(_stat(rs, "availableReplicas") for rs in old) + _stat(new, "availableReplicas")
    budget = min(budget, available - min_available)
    for rs in old:
        cut = min(budget, targets[rs["metadata"]["name"]])
        if cut > 0:
            targets[rs["metadata"]["name"]] -= cut
            budget -= cut
    return [_scale(rs, targets[rs["metadata"]["name"]]) for rs in old if targets[rs["metadata"]["name"]] != _spec(rs)]


def _recreate(d: dict, h: str, new: dict | None, old: list[dict], replicas: int) -> list[Action]:
    running_old = [rs for rs in old if _spec(rs) > 0]
    if running_old:
        return [_scale(rs, 0) for rs in running_old]
    if any(_stat(rs, "replicas") > 0 for rs in old):
        return []
    if new is None:
        return [_create_new(d, h, old, replicas)]
    return [_scale(new, replicas)] if _spec(new) != replicas else []


def _cleanup(old: list[dict]) -> list[Action]:
    idle = [rs for rs in old if _spec(rs) == 0 and _stat(rs, "replicas") == 0]
    extra = idle[: max(0, len(idle) - HISTORY_LIMIT)]
    return [Delete("replicasets", rs["metadata"]["name"], rs["metadata"].get("namespace"),
                   uid=rs["metadata"].get("uid"), reason="revision history limit") for rs in extra]


def _status(d: dict, new: dict | None, old: list[dict], all_rs: list[dict], now: float, replicas: int) -> list[Action]:
    _, max_unavailable = surge_and_unavailable(d, replicas)
    current = d.get("status") or {}
    status = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": sum(_stat(rs, "replicas") for rs in all_rs),
        "updatedReplicas": _stat(new, "replicas") if new else 0,
        "readyReplicas": sum(_stat(rs, "readyReplicas") for rs in all_rs),
        "availableReplicas": sum(_stat(rs, "availableReplicas") for rs in all_rs),
    }
    status["unavailableReplicas"] = max(0, replicas - status["availableReplicas"])
    conditions = _conditions(d, new, status, replicas, max_unavailable, now, current.get("conditions") or [])
    numbers_same = all(current.get(k, 0) == v for k, v in status.items())
    if numbers_same and _same_conditions(current.get("conditions") or [], conditions):
        return []
    return [Update("deployments", {**d, "status": {**current, **status, "conditions": conditions}}, "status")]


def _conditions(d, new, status, replicas, max_unavailable, now, existing) -> list[dict]:
    available = status["availableReplicas"] >= replicas - max_unavailable
    complete = (new is not None and status["updatedReplicas"] == replicas and status["replicas"] == replicas
                and status["availableReplicas"] >= replicas)
    name = new["metadata"]["name"] if new else d["metadata"]["name"]
    if complete:
        progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{name}" has successfully progressed.')
    else:
        progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.')
        deadline = int((d.get("spec") or {}).get("progressDeadlineSeconds", 600))
        last = next((c for c in existing if c.get("type") == "Progressing"), None)
        since = parse_rfc3339(last.get("lastUpdateTime")) if last else None
        if last and last.get("reason") == "ReplicaSetUpdated" and since and now - since > deadline:
            progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{name}" has timed out progressing.')
    avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") if available else \
        ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    return [_condition("Available", avail, existing, now), _condition("Progressing", progressing, existing, now)]


def _condition(kind: str, value: tuple[str, str, str], existing: list[dict], now: float) -> dict:
    status, reason, message = value
    old = next((c for c in existing if c.get("type") == kind), None)
    stamp = rfc3339(now)
    if old and (old.get("status"), old.get("reason"), old.get("message")) == value:
        return old
    transition = old["lastTransitionTime"] if old and old.get("status") == status else stamp
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": stamp, "lastTransitionTime": transition}


def _same_conditions(a: list[dict], b: list[dict]) -> bool:
    key = lambda c: (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))  # noqa: E731
    return sorted(map(key, a)) == sorted(map(key, b))
