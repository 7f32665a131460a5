"""`kubectl get` output: meta.k8s.io/v1 Table responses, with upstream's columns for each kind.

COLUMNS maps a kind to its column definitions (priority 1 = shown only with `-o wide`) and a row function
that computes the cells from an object (STATUS, READY, RESTARTS, AGE, NODE...). `to_table` builds a list
response; `table_event` converts one encoded watch line for `kubectl get -w`. Called by handlers.py.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from berth.model.labels import format_selector
from berth.model.timestamps import parse_rfc3339


def human_age(stamp: str | None, now: datetime | None = None) -> str:
    """Age as kubectl prints it ('45s', '3m12s', '5h', '12d')."""
    if not stamp:
        return "<unknown>"
    try:
        then = datetime.fromtimestamp(parse_rfc3339(stamp), timezone.utc)
    except ValueError:
        return "<unknown>"
    s = int(((now or datetime.now(timezone.utc)) - then).total_seconds())
    if s < 0:
        return "0s"
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    return f"{d}d" if d < 730 else f"{d // 365}y"


def _meta(obj):
    return obj.get("metadata") or {}


def _age(obj):
    return human_age(_meta(obj).get("creationTimestamp"))


def pod_status(pod: dict) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated"):
            term = state["terminated"]
            reason = term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                            else f"ExitCode:{term.get('exitCode', 0)}")
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(pod):
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    gates = spec.get("readinessGates") or []
    return [_meta(pod).get("name"), f"{ready}/{len(spec.get('containers') or [])}", pod_status(pod), restarts,
            _age(pod), status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", f"{len(gates)}" if gates else "<none>"]


def _node_row(node):
    status, spec = node.get("status") or {}, node.get("spec") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Ready" if ready and ready.get("status") == "True" else "NotReady" if ready else "Unknown"
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = _meta(node).get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) \
        or "<none>"
    info = status.get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [_meta(node).get("name"), state, roles, _age(node), info.get("kubeletVersion") or "",
            addrs.get("InternalIP") or "<none>", addrs.get("ExternalIP") or "<none>", info.get("osImage") or "",
            info.get("kernelVersion") or "", info.get("containerRuntimeVersion") or ""]


def _containers(obj):
    cs = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(obj):
    return format_selector((obj.get("spec") or {}).get("selector")) or "<none>"


def _deployment_row(d):
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(d)
    return [_meta(d).get("name"), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(d), names, images,
            _selector(d)]


def _replicaset_row(rs):
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(rs)
    return [_meta(rs).get("name"), spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs), names, images, _selector(rs)]


def _event_row(ev):
    inv = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    return [human_age(last if isinstance(last, str) else None), ev.get("type", ""), ev.get("reason", ""),
            f"{(inv.get('kind') or '').lower()}/{inv.get('name', '')}", ev.get("message", "")]


def _binding_row(b):
    ref = b.get("roleRef") or {}
    subjects = [s for s in b.get("subjects") or [] if isinstance(s, dict)]
    names = {kind: ", ".join(s.get("name", "") if kind != "ServiceAccount" else
                             f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects if s.get("kind") == kind)
             for kind in ("User", "Group", "ServiceAccount")}
    return [_meta(b).get("name"), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(b), names["User"],
            names["Group"], names["ServiceAccount"]]


def _col(name, kind="string", priority=0, fmt=""):
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


COLUMNS = {
    "Pod": ([_col("Name", fmt="name"), _col("Ready"), _col("Status"), _col("Restarts", "integer"), _col("Age"),
             _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
             _col("Readiness Gates", priority=1)], _pod_row),
    "Node": ([_col("Name", fmt="name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version"),
              _col("Internal-IP", priority=1), _col("External-IP", priority=1), _col("OS-Image", priority=1),
              _col("Kernel-Version", priority=1), _col("Container-Runtime", priority=1)], _node_row),
    "Deployment": ([_col("Name", fmt="name"), _col("Ready"), _col("Up-to-date", "integer"),
                    _col("Available", "integer"), _col("Age"), _col("Containers", priority=1),
                    _col("Images", priority=1), _col("Selector", priority=1)], _deployment_row),
    "ReplicaSet": ([_col("Name", fmt="name"), _col("Desired", "integer"), _col("Current", "integer"),
                    _col("Ready", "integer"), _col("Age"), _col("Containers", priority=1),
                    _col("Images", priority=1), _col("Selector", priority=1)], _replicaset_row),
    "Namespace": ([_col("Name", fmt="name"), _col("Status"), _col("Age")],
                  lambda ns: [_meta(ns).get("name"), (ns.get("status") or {}).get("phase", ""), _age(ns)]),
    "Event": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")], _event_row),
    "Lease": ([_col("Name", fmt="name"), _col("Holder"), _col("Age")],
              lambda ls: [_meta(ls).get("name"), (ls.get("spec") or {}).get("holderIdentity", ""), _age(ls)]),
    "RoleBinding": ([_col("Name", fmt="name"), _col("Role"), _col("Age"), _col("Users", priority=1),
                     _col("Groups", priority=1), _col("ServiceAccounts", priority=1)], _binding_row),
    "ClusterRoleBinding": ([_col("Name", fmt="name"), _col("Role"), _col("Age"), _col("Users", priority=1),
                            _col("Groups", priority=1), _col("ServiceAccounts", priority=1)], _binding_row),
}  # Role and ClusterRole: upstream prints Name and Created At, which is DEFAULT
DEFAULT = ([_col("Name", fmt="name"), _col("Created At", "date")],
           lambda o: [_meta(o).get("name"), _meta(o).get("creationTimestamp")])


def _row(spec, obj, include: str) -> dict:
    row = {"cells": COLUMNS.get(spec.kind, DEFAULT)[1](obj)}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(obj)}
    return row


def to_table(spec, items: list[dict], list_meta: dict, include: str = "", with_columns: bool = True) -> dict:
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(list_meta),
             "rows": [_row(spec, obj, include) for obj in items]}
    if with_columns:
        table["columnDefinitions"] = COLUMNS.get(spec.kind, DEFAULT)[0]
    return table


def table_event(spec, line: bytes) -> bytes:
    """Re-encode one watch line so its object is a one-row Table (for `kubectl get -w`)."""
    event = orjson.loads(line)
    obj = event.get("object") or {}
    if event.get("type") in ("BOOKMARK", "ERROR"):
        return line
    rv = _meta(obj).get("resourceVersion", "")
    event["object"] = to_table(spec, [obj], {"resourceVersion": rv})
    return orjson.dumps(event) + b"\n"
