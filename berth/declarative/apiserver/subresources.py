"""Subresource handlers: pods/binding, pods/eviction, pods/log, */status and deployments|replicasets/scale.

Binding is the scheduler's hot path: one guaranteed update that sets spec.nodeName and the PodScheduled
condition, answering 409 if the pod is already bound or being deleted. Scale reads and writes an
autoscaling/v1 Scale view of spec.replicas. The SUBROUTES table in app.py maps (sub, method) here.
"""

from __future__ import annotations

from starlette.responses import StreamingResponse

from berth.declarative.apiserver import handlers
from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.codec import conform
from berth.declarative.apiserver.http import Call, problem_response, respond
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.registry import stamp
from berth.declarative.apiserver.schema import node_for
from berth.declarative.apiserver.status import Problem
from berth.model.labels import format_selector

NODES = BY_PLURAL["nodes"]


async def bind(api, call: Call):
    body = await call.body()
    if isinstance(body, Problem):
        return problem_response(body)
    target = (body.get("target") or {}) if isinstance(body, dict) else {}
    node = target.get("name") if isinstance(target, dict) else None
    if not isinstance(node, str) or not node:
        return problem_response(st.invalid(call.spec, call.name, [st.cause("target.name", "Required value",
                                                                           "FieldValueRequired")]))
    annotations = ((body.get("metadata") or {}).get("annotations") or {}) if isinstance(body, dict) else {}
    now = stamp(api.registry.clock)

    def assign(pod: dict):
        meta, spec = pod["metadata"], pod.setdefault("spec", {})
        if meta.get("deletionTimestamp"):
            return st.conflict(call.spec, call.name, "pod is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            return st.conflict(call.spec, call.name, f'pod {call.name} is already assigned to node'
                                                     f' "{spec["nodeName"]}"')
        spec["nodeName"] = node
        if isinstance(annotations, dict) and annotations:
            meta.setdefault("annotations", {}).update({str(k): str(v) for k, v in annotations.items()})
        conditions = [c for c in pod.setdefault("status", {}).get("conditions") or [] if c.get("type") !=
                      "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": now})
        pod["status"]["conditions"] = conditions
        return pod

    result = api.registry.guaranteed_update(call.spec, call.namespace, call.name, assign)
    if isinstance(result, Problem):
        return problem_response(result)
    return respond(st.success(code=201), 201)


async def evict(api, call: Call):
    body = await call.body()
    if isinstance(body, Problem):
        return problem_response(body)
    options = (body.get("deleteOptions") or {}) if isinstance(body, dict) else {}
    result = api.registry.delete(call.spec, call.namespace, call.name, options if isinstance(options, dict) else {},
                                 dry_run=call.dry_run)
    if isinstance(result, Problem):
        return problem_response(result)
    return respond(st.success(code=201), 201)


async def logs(api, call: Call):
    pod = api.registry.get(call.spec, call.namespace, call.name)
    if isinstance(pod, Problem):
        return problem_response(pod)
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    container = call.param("container") or (containers[0] if len(containers) == 1 else "")
    if container not in containers:
        return problem_response(st.bad_request(
            f'a container name must be specified for pod {call.name}, choose one of: {containers}'
            if not container else f'container {container} is not valid for pod {call.name}'))
    node_name = (pod.get("spec") or {}).get("nodeName")
    node = api.registry.get(NODES, "", node_name) if node_name else None
    params = {k: v for k, v in call.query.items()}
    stream = await api.logs.open(pod, node if isinstance(node, dict) else None, container, params)
    if isinstance(stream, Problem):
        return problem_response(stream)
    return StreamingResponse(stream, media_type="text/plain")


# -- scale -------------------------------------------------------------------------------------------------
def scale_of(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": format_selector((obj.get("spec") or {}).get("selector"))}}


async def get_scale(api, call: Call):
    obj = api.registry.get(call.spec, call.namespace, call.name)
    return respond(obj if isinstance(obj, Problem) else scale_of(obj))


async def put_scale(api, call: Call):
    body = await call.body()
    if isinstance(body, Problem):
        return problem_response(body)
    return respond(set_replicas(api, call, lambda scale: body))


async def patch_scale(api, call: Call):
    kind = call.header("content-type").split(";", 1)[0].strip()
    body = await call.body()
    if isinstance(body, Problem):
        return problem_response(body)
    return respond(set_replicas(api, call, lambda scale: handlers.apply_patch(call.spec, scale, kind, body)))


def set_replicas(api, call: Call, make_scale):
    """Apply the Scale that `make_scale(current_scale)` returns to the object's spec.replicas (CAS on its RV)."""
    def mutate(obj: dict):
        scale = make_scale(scale_of(obj))
        if isinstance(scale, Problem):
            return scale
        errors: list[str] = []
        conform(scale, node_for("V1Scale"), "", [], errors)
        if errors:
            return st.bad_request('Scale in version "v1" cannot be handled as a Scale: ' + "; ".join(errors[:5]))
        replicas = ((scale or {}).get("spec") or {}).get("replicas") if isinstance(scale, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            return st.invalid(call.spec, call.name, [st.cause("spec.replicas", f"Invalid value: {replicas!r}:"
                                                              " must be a non-negative integer")])
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv not in (None, "", obj["metadata"]["resourceVersion"]):
            return st.conflict(call.spec, call.name)
        obj["spec"]["replicas"] = replicas
        return obj

    result = api.registry.guaranteed_update(call.spec, call.namespace, call.name, mutate)
    return result if isinstance(result, Problem) else scale_of(result)
