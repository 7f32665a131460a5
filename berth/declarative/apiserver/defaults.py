"""Defaulting: the fields upstream's API server fills in, so kubectl and controllers see familiar objects.

`apply_defaults(spec, obj)` mutates `obj` in place by the kind's entry in the DEFAULTERS table. Defaults
only fill what is missing; they never overwrite what the user sent. Called by the registry on create and
update, after schema pruning and before validation.
"""

from __future__ import annotations

# Upstream's DefaultTolerationSeconds admission plugin adds these to every pod.
NODE_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
)


def _container(c: dict) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = c.get("image") or ""
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")


def pod_spec(spec: dict) -> None:
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _container(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def pod(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    keys = {x.get("key") for x in tolerations if isinstance(x, dict)} if tolerations else ()
    for t in NODE_TOLERATIONS:
        if t["key"] not in keys:
            tolerations.append(dict(t))
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def qos_class(spec: dict) -> str:
    """BestEffort without any requests or limits; Guaranteed when every container limits cpu and memory and
    requests exactly its limits (or nothing); Burstable otherwise."""
    asked, guaranteed = False, True
    for c in spec.get("containers") or ():
        if not isinstance(c, dict):
            continue
        r = c.get("resources") or {}
        limits, requests = r.get("limits"), r.get("requests")
        asked = asked or bool(requests or limits)
        if guaranteed and not (limits and "cpu" in limits and "memory" in limits
                               and all((requests or limits).get(k) == v for k, v in limits.items())):
            guaranteed = False
    if not asked:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _template(spec: dict) -> None:
    template = spec.setdefault("template", {})
    pod_spec(template.setdefault("spec", {}))
    if "metadata" not in template:
        template["metadata"] = {}
    if spec.get("selector") is None and (template["metadata"].get("labels")):
        spec["selector"] = {"matchLabels": dict(template["metadata"]["labels"])}


def replicaset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _template(spec)
    obj.setdefault("status", {}).setdefault("replicas", 0)


def deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def namespace(obj: dict) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    labels = obj["metadata"].setdefault("labels", {})
    labels.setdefault("kubernetes.io/metadata.name", obj["metadata"].get("name", ""))


def node(obj: dict) -> None:
    obj.setdefault("spec", {})
    obj.setdefault("status", {})


def event(obj: dict) -> None:
    obj.setdefault("type", "Normal")
    obj.setdefault("count", 1)


DEFAULTERS = {"Pod": pod, "Deployment": deployment, "ReplicaSet": replicaset, "Namespace": namespace,
              "Node": node, "Event": event}


def apply_defaults(spec, obj: dict) -> None:
    rule = DEFAULTERS.get(spec.kind)
    if rule is not None:
        rule(obj)
