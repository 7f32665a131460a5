"""Builders of Kubernetes API objects (plain dicts) for the declarative plane's unit tests."""

from __future__ import annotations


def node_obj(name, cpu="4", memory="8Gi", pods="110", labels=None, taints=None, unschedulable=False, gpus=0):
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    if gpus:
        alloc["nvidia.com/gpu"] = str(gpus)
    spec = {"taints": taints or []}
    if unschedulable:
        spec["unschedulable"] = True
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "spec": spec, "status": {"allocatable": alloc, "capacity": alloc}}


def pod_obj(name, cpu="100m", memory="128Mi", ns="default", node=None, priority=0, labels=None, uid=None, **spec):
    body = {"containers": [{"name": "main", "image": "x", "command": ["sleep", "1"],
                            "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}
    if node:
        body["nodeName"] = node
    if priority:
        body["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": uid or f"uid-{name}", "labels": labels or {}},
            "spec": body, "status": {"phase": "Pending"}}
