"""The ReplicaSet reconciler: keep `spec.replicas` active pods from the template, report status.

`reconcile_replicaset(rs, pods, now, new_name)` is pure.  `pods` are the pods the ReplicaSet
controls (controller ownerReference with its uid), including pods the controller has just
created or deleted but the cache does not show yet (the controller's expectations, merged in by
`ReplicaSetController`).  Too few active pods: create the difference (at most `BURST` per pass);
too many: delete by `pods.deletion_rank`.  Status (replicas, fullyLabeledReplicas, readyReplicas,
availableReplicas, observedGeneration) is written when it changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from berth.declarative.controllers.actions import Action, Create, Delete, Update, controller_selector, owner_ref
from berth.declarative.controllers.pods import deletion_rank, is_active, is_available, is_ready

BURST = 500


def replicaset_status(rs: dict, pods: list[dict], now: float) -> dict:
    spec = rs.get("spec") or {}
    active = [p for p in pods if is_active(p)]
    selector, min_ready = spec.get("selector"), int(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    fully_labeled = controller_selector({"matchLabels": template_labels} if template_labels else selector)
    return {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(1 for p in active if fully_labeled.matches(p["metadata"].get("labels"))),
        "readyReplicas": sum(1 for p in active if is_ready(p)),
        "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
        "observedGeneration": rs["metadata"].get("generation", 1),
    }


def pod_from_template(rs: dict, name: str) -> dict:
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    meta = template.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": rs["metadata"].get("namespace", "default"),
                         "labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {},
                         "ownerReferences": [owner_ref(rs)]},
            "spec": template.get("spec") or {}}


def reconcile_replicaset(rs: dict, pods: list[dict], now: float, new_name: Callable[[str], str]) -> list[Action]:
    """Actions that bring the ReplicaSet's pods to `spec.replicas` and its status up to date."""
    meta = rs["metadata"]
    if meta.get("deletionTimestamp"):
        return []
    ns = meta.get("namespace", "default")
    active = [p for p in pods if is_active(p)]
    want = int((rs.get("spec") or {}).get("replicas", 1))
    actions: list[Action] = []
    if len(active) < want:
        for _ in range(min(BURST, want - len(active))):
            actions.append(Create("pods", pod_from_template(rs, new_name(meta["name"])), ns))
    elif len(active) > want:
        for pod in sorted(active, key=deletion_rank)[: len(active) - want]:
            actions.append(Delete("pods", pod["metadata"]["name"], ns, uid=pod["metadata"].get("uid"),
                                  reason="scale down"))
    status = replicaset_status(rs, pods, now)
    if any((rs.get("status") or {}).get(k, 0) != v for k, v in status.items()):
        actions.append(Update("replicasets", {**rs, "status": {**(rs.get("status") or {}), **status}}, "status"))
    return actions
