"""Kubernetes Node and Pod objects (dicts) as the engine's `Node` and `Workload`.

The scheduler places pods through `berth.engine`, so each API object is translated once into the
model's vocabulary: cpu in millicores, memory in MiB, `nvidia.com/gpu` as whole GPUs, other
domain-prefixed extended resources as custom dimensions.  A node's `spec.unschedulable` becomes
the `node.kubernetes.io/unschedulable:NoSchedule` taint (as the node lifecycle does upstream).
A pod's `nodeSelector` and the single term of required node affinity become label requirements;
required pod anti-affinity on the hostname or zone topology becomes an engine anti-affinity
group keyed by its label selector (exact when, as with replicas, the pods carrying the
anti-affinity are the ones it selects).  What the engine cannot express raises
`ConversionError`, which the scheduler reports as a FailedScheduling event.  Pods made from one
template share their requests, tolerations and selector, so `workload_from_pod` converts each
distinct value of those once (`_memo`, keyed by the raw field values) and shares the immutable
results.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.declarative.client.quantity import QuantityError, to_count, to_mib, to_millicores
from berth.model import AntiAffinity, LabelRequirement, Node, Resources, Taint, Toleration, ValidationError, Workload
from berth.model.labels import format_selector
from berth.model.node import ZONE_LABEL

GPU_RESOURCE = "nvidia.com/gpu"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
TOPOLOGIES = {"kubernetes.io/hostname": "node", ZONE_LABEL: "zone"}
IGNORED = ("ephemeral-storage", "hugepages-", "storage")
MEMO_SIZE = 4096
_MEMO: dict[tuple, object] = {}


class ConversionError(ValueError):
    """An object uses a feature the engine cannot express; the message names the field."""


def _amounts(resources: dict | None, round_up: bool, where: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in (resources or {}).items():
        try:
            if name == "cpu":
                out["cpu"] = to_millicores(value, round_up)
            elif name == "memory":
                out["memory"] = to_mib(value, round_up)
            elif name == "pods":
                out["pods"] = to_count(value, round_up)
            elif name == GPU_RESOURCE:
                out["gpu"] = to_count(value, round_up) * 1000
            elif "/" in name:
                out[name] = to_count(value, round_up)
            elif not name.startswith(IGNORED):
                raise ConversionError(f"{where}.{name}: unsupported resource")
        except QuantityError as err:
            raise ConversionError(f"{where}.{name}: {err}") from None
    return out


def node_from_object(obj: dict) -> Node:
    """The engine's view of a Node object (allocatable, labels, taints)."""
    status, spec, meta = obj.get("status") or {}, obj.get("spec") or {}, obj["metadata"]
    amounts = _amounts(status.get("allocatable") or status.get("capacity"), False, "status.allocatable")
    gpus = amounts.pop("gpu", 0) // 1000
    taints = [_taint(t) for t in spec.get("taints") or []]
    if spec.get("unschedulable"):
        taints.append(Taint(UNSCHEDULABLE_TAINT, "", "NoSchedule"))
    labels = dict(meta.get("labels") or {})
    try:
        return Node(meta["name"], Resources(amounts), gpus=gpus, labels=labels, taints=tuple(taints),
                    zone=labels.get(ZONE_LABEL, ""))
    except ValidationError as err:
        raise ConversionError(f"node {meta['name']}: {err}") from None


def _taint(t: dict) -> Taint:
    return Taint(t.get("key", ""), t.get("value", "") or "", t.get("effect", "NoSchedule"))


def workload_name(namespace: str, name: str) -> str:
    """The engine-side name of a pod (namespaces hold no dots, so this is unambiguous)."""
    return f"{namespace}.{name}"


def pod_requests(spec: dict) -> dict[str, int]:
    """Sum of the containers' requests (limits stand in for missing requests), or the largest init container."""
    total: dict[str, int] = {}
    for i, ctr in enumerate(spec.get("containers") or []):
        res = ctr.get("resources") or {}
        asked = {**_amounts(res.get("limits"), True, f"spec.containers[{i}].resources.limits"),
                 **_amounts(res.get("requests"), True, f"spec.containers[{i}].resources.requests")}
        for k, v in asked.items():
            total[k] = total.get(k, 0) + v
    for i, ctr in enumerate(spec.get("initContainers") or []):
        res = ctr.get("resources") or {}
        asked = _amounts(res.get("requests") or res.get("limits"), True, f"spec.initContainers[{i}].resources")
        for k, v in asked.items():
            total[k] = max(total.get(k, 0), v)
    total.pop("pods", None)
    return total


def workload_from_pod(obj: dict) -> Workload:
    """The engine's view of a Pod: requests, node selector, tolerations, anti-affinity, priority."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    namespace = meta.get("namespace", "default")
    try:
        return Workload(workload_name(namespace, meta["name"]),
                        _memo("requests", _requests_key(spec), lambda: Resources(pod_requests(spec))),
                        node_selector=_memo("selector", _selector_key(spec), lambda: tuple(_selector(spec))),
                        tolerations=_memo("tolerations", _tolerations_key(spec),
                                          lambda: tuple(_toleration(t) for t in spec.get("tolerations") or [])),
                        anti_affinity=tuple(_anti_affinity(spec, namespace)),
                        priority=int(spec.get("priority") or 0))
    except ValidationError as err:
        raise ConversionError(f"pod {meta['name']}: {err}") from None


def _memo(part: str, key, build):
    """The converted value of one part of a pod spec, built once per distinct raw value (None: not memoised)."""
    if key is None:
        return build()
    try:
        hit = _MEMO.get((part, key))
    except TypeError:  # a value that is not hashable: the build reports what is wrong with it
        return build()
    if hit is None:
        if len(_MEMO) >= MEMO_SIZE:
            _MEMO.clear()
        hit = _MEMO[(part, key)] = build()  # raises, caching nothing, for a value that does not convert
    return hit


def _requests_key(spec: dict) -> tuple | None:
    """The raw resources of every container and init container, or None when one is not a plain mapping."""
    try:
        return tuple(_resources_key(c) for c in spec.get("containers") or ()), \
            tuple(_resources_key(c) for c in spec.get("initContainers") or ())
    except (AttributeError, TypeError):
        return None


def _resources_key(container: dict) -> tuple:
    res = container.get("resources") or {}
    return (tuple((res.get("limits") or {}).items()), tuple((res.get("requests") or {}).items()))


def _selector_key(spec: dict) -> tuple | None:
    if spec.get("affinity"):
        return None  # affinity terms are nested lists: converted each time
    try:
        return tuple((spec.get("nodeSelector") or {}).items())
    except AttributeError:
        return None


def _tolerations_key(spec: dict) -> tuple | None:
    try:
        return tuple((t.get("key"), t.get("operator"), t.get("value"), t.get("effect"))
                     for t in spec.get("tolerations") or ())
    except AttributeError:
        return None


def _selector(spec: dict) -> Iterable[LabelRequirement]:
    for key, value in sorted((spec.get("nodeSelector") or {}).items()):
        yield LabelRequirement(key, "In", (str(value),))
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if len(terms) > 1:
        raise ConversionError("spec.affinity.nodeAffinity: only one nodeSelectorTerm is supported")
    for term in terms:
        if term.get("matchFields"):
            raise ConversionError("spec.affinity.nodeAffinity: matchFields is not supported")
        for expr in term.get("matchExpressions") or []:
            if expr.get("operator") not in LabelRequirement.OPERATORS:
                raise ConversionError(f"spec.affinity.nodeAffinity: operator {expr.get('operator')} is not supported")
            yield LabelRequirement(expr["key"], expr["operator"], tuple(expr.get("values") or ()))


def _toleration(t: dict) -> Toleration:
    key = t.get("key", "") or ""
    operator = t.get("operator") or ("Exists" if not key else "Equal")
    return Toleration(key, operator, t.get("value", "") or "", t.get("effect") or None)


def _anti_affinity(spec: dict, namespace: str) -> Iterable[AntiAffinity]:
    terms = (((spec.get("affinity") or {}).get("podAntiAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    for i, term in enumerate(terms):
        topology = TOPOLOGIES.get(term.get("topologyKey", ""))
        if topology is None:
            raise ConversionError(f"spec.affinity.podAntiAffinity[{i}].topologyKey: only "
                                  f"{', '.join(TOPOLOGIES)} are supported")
        selector = term.get("labelSelector") or {}
        if selector.get("matchExpressions"):
            raise ConversionError(f"spec.affinity.podAntiAffinity[{i}]: matchExpressions are not supported")
        yield AntiAffinity(f"{namespace}:{format_selector(selector)}", topology)
