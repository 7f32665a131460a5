"""The pod status the agent reports from its containers' unit statuses, in the kubelet's words.

`pod_status(pod, units, ...)` builds what `kubectl get pods` and `kubectl describe pod` read: the phase
(as the kubelet's getPhase: Pending while any container waits to run for the first time -- pulling its
image, ErrImagePull or ImagePullBackOff, a config error -- so a pull that fails never makes a pod Failed;
Running while any runs or restarts; Succeeded or Failed once all have exited for good), conditions
(PodScheduled, Initialized, ContainersReady, Ready), containerStatuses (`waiting` with the runtime's
reason: ContainerCreating, ErrImagePull, ImagePullBackOff, CrashLoopBackOff; `running`; `terminated`
with Completed, Error or OOMKilled and the exit code; `lastState.terminated` of the previous run;
restartCount), podIP (the unit's own address, else the host's) and hostIP.  Pure; the agent calls it.
`unit_specs` (containers as units) lives in `units` and is re-exported here.
"""

from __future__ import annotations

import math
from functools import lru_cache

from berth.declarative.agent.units import FAKE_OPTION, RESTART, unit_name, unit_specs
from berth.model.timestamps import rfc3339
from berth.runtime import UnitState, UnitStatus

__all__ = ["FAKE_OPTION", "RESTART", "HOST_IP", "exit_reason", "last_run", "pod_status", "stamp", "unit_name", "unit_specs"]

HOST_IP = "127.0.0.1"
WAITING_REASONS = frozenset({"ContainerCreating", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                             "CrashLoopBackOff", "CreateContainerConfigError", "RunContainerError"})
EXIT_REASONS = frozenset({"Completed", "Error", "OOMKilled"})
"""Reasons a run ends with, as the runtime reports them (else derived from the exit code)."""


def stamp(when: float | None) -> str | None:
    """RFC 3339 in whole seconds (UTC), as the API's timestamps; None stays None."""
    return None if when is None else _stamp(math.floor(when))


_stamp = lru_cache(maxsize=4096)(rfc3339)  # memoised per whole second: every status write stamps times


def exit_reason(code: int, reason: str) -> str:
    """Why a run ended: the runtime's reason when it gives one (only it can tell an OOM kill from another
    SIGKILL), else Completed or Error by the exit code."""
    if reason in EXIT_REASONS:
        return reason
    return "Completed" if code == 0 else "Error"


def last_run(unit: UnitStatus) -> dict | None:
    """The `terminated` record of the unit's latest finished run, or None while it has none."""
    if unit.exit_code is None or unit.state in (UnitState.RUNNING, UnitState.STOPPING):
        return None
    code = unit.exit_code
    reason = exit_reason(code, unit.last_reason or unit.reason if unit.state is UnitState.WAITING else unit.reason)
    return {"exitCode": code, "reason": reason, "startedAt": stamp(unit.started_at),
            "finishedAt": stamp(unit.finished_at)}


def _waiting(reason: str, message: str) -> dict:
    return {"waiting": {"reason": reason, **({"message": message} if message else {})}}


def container_status(ctr: dict, unit: UnitStatus | None, runtime: str, last: dict | None = None) -> dict:
    """One containerStatus; `last` is the previous run's `terminated` record as the agent saw it end."""
    base = {"name": ctr["name"], "image": ctr.get("image", ""), "imageID": "", "ready": False,
            "restartCount": unit.restarts if unit else 0, "started": False}
    if unit is None:
        return {**base, "state": _waiting("ContainerCreating", "")}
    if unit.pid is not None:
        base["containerID"] = f"berth-{runtime}://{unit.pid}"
    if unit.state in (UnitState.RUNNING, UnitState.STOPPING):
        code = unit.exit_code or 0
        if last is None or unit.last_reason not in ("", last["reason"]):  # what the runtime says over a stale memory
            last = {"exitCode": code, "reason": exit_reason(code, unit.last_reason), "startedAt": None,
                    "finishedAt": None} if unit.restarts else None
        return {**base, "ready": unit.state is UnitState.RUNNING, "started": True,
                "state": {"running": {"startedAt": stamp(unit.started_at)}},
                **({"lastState": {"terminated": last}} if last else {})}
    ended = last_run(unit)
    if unit.state is UnitState.WAITING and unit.exit_code is not None:  # between runs: back-off, or a new pull
        reason = unit.reason if unit.reason in WAITING_REASONS else "CrashLoopBackOff"
        return {**base, "state": _waiting(reason, unit.message), "lastState": {"terminated": last or ended}}
    if unit.state is UnitState.WAITING:
        return {**base, "state": _waiting(unit.reason or "ContainerCreating", unit.message)}
    if unit.state is UnitState.FAILED and unit.started_at is None:
        return {**base, "state": _waiting(unit.reason if unit.reason in WAITING_REASONS else "RunContainerError",
                                          unit.message)}
    return {**base, "state": {"terminated": ended or {"exitCode": 0, "reason": "Completed", "startedAt":
                                                      stamp(unit.started_at), "finishedAt": stamp(unit.finished_at)}}}


def _kind(unit: UnitStatus | None, never: bool) -> str:
    """How getPhase counts a container: waiting (never ran yet), running, stopped (between runs or for good)."""
    if unit is None:
        return "waiting"
    if unit.state in (UnitState.RUNNING, UnitState.STOPPING):
        return "running"
    if unit.state is UnitState.WAITING:
        return "restarting" if unit.exit_code is not None else "waiting"
    if unit.state is UnitState.FAILED and unit.started_at is None:
        return "failed" if never else "waiting"  # it could not start: Pending, as a container that cannot be made
    return "succeeded" if unit.state is UnitState.SUCCEEDED else "failed"


def phase_of(units: list[UnitStatus | None], restart_policy: str = "Always") -> str:
    kinds = {_kind(u, restart_policy == "Never") for u in units}
    if not units or "waiting" in kinds:
        return "Pending"
    if kinds & {"running", "restarting"}:
        return "Running"
    return "Succeeded" if kinds == {"succeeded"} else "Failed"


def pod_ip(units: list[UnitStatus | None]) -> str:
    return next((u.ip for u in units if u is not None and u.ip), HOST_IP)


def pod_status(pod: dict, units: list[UnitStatus | None], started: float, runtime: str, now: float,
               previous: dict | None = None, last: dict[str, dict] | None = None) -> dict:
    """The status to report for `pod` given its containers' unit statuses (aligned with spec.containers);
    `last` maps a container's name to its previous run's `terminated` record, as the agent saw it."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    statuses = [container_status(c, u, runtime, (last or {}).get(c["name"])) for c, u in zip(containers, units)]
    ready = bool(statuses) and all(s["ready"] for s in statuses)
    old = {c["type"]: c for c in (previous or {}).get("conditions") or []}

    def cond(kind: str, ok: bool, reason: str | None = None) -> dict:
        value = "True" if ok else "False"
        prior = old.get(kind)
        since = prior["lastTransitionTime"] if prior and prior.get("status") == value else stamp(now)
        out = {"type": kind, "status": value, "lastTransitionTime": since}
        if not ok and reason:
            out["reason"] = reason
        return out

    ip = pod_ip(units)
    return {"phase": phase_of(units, spec.get("restartPolicy", "Always")), "hostIP": HOST_IP, "podIP": ip,
            "podIPs": [{"ip": ip}], "hostIPs": [{"ip": HOST_IP}], "startTime": stamp(started), "qosClass":
            (pod.get("status") or {}).get("qosClass", "BestEffort"),
            "conditions": [cond("PodScheduled", True), cond("Initialized", True),
                           cond("ContainersReady", ready, "ContainersNotReady"), cond("Ready", ready, "ContainersNotReady")],
            "containerStatuses": statuses}
