"""A pod's containers as runtime units, and the pod status the agent reports from their states.

`unit_specs(pod)` turns each container into a `UnitSpec` (argv = command + args, env values,
workingDir, the pod's restartPolicy); `pod_status(pod, statuses, ...)` builds the status
`kubectl get pods` reads: phase (Running while any container runs or restarts; Succeeded or
Failed once all have exited for good), conditions (PodScheduled, Initialized, ContainersReady,
Ready), containerStatuses with running/waiting/terminated states, restartCount and lastState,
podIP and hostIP.  Pure; the agent calls both.
"""

from __future__ import annotations

import math
from functools import lru_cache

from berth.model.timestamps import rfc3339
from berth.runtime import RestartPolicy, UnitSpec, UnitState, UnitStatus

RESTART = {"Always": RestartPolicy.ALWAYS, "OnFailure": RestartPolicy.ON_FAILURE, "Never": RestartPolicy.NEVER}
FAKE_OPTION = "berth.dev/fake-"
"""Pod annotations `berth.dev/fake-exit-after` etc. become fake-runtime unit options."""


def stamp(when: float | None) -> str | None:
    """RFC 3339 in whole seconds (UTC), as the API's timestamps; None stays None."""
    return None if when is None else _stamp(math.floor(when))


_stamp = lru_cache(maxsize=4096)(rfc3339)  # memoised per whole second: every status write stamps times


def unit_name(pod: dict, container: str) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}/{container}"


def _env(pod: dict, ctr: dict) -> dict[str, str]:
    meta = pod["metadata"]
    fields = {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace", "default"),
              "metadata.uid": meta.get("uid", ""), "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
              "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
    env = {}
    for var in ctr.get("env") or []:
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            path = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
            if path in fields:
                env[var["name"]] = fields[path]
    return env


def unit_specs(pod: dict) -> list[UnitSpec]:
    """One unit per container; a container without `command` runs its image name as the program."""
    spec = pod.get("spec") or {}
    restart = RESTART.get(spec.get("restartPolicy", "Always"), RestartPolicy.ALWAYS)
    options = {k[len(FAKE_OPTION):]: str(v) for k, v in (pod["metadata"].get("annotations") or {}).items()
               if k.startswith(FAKE_OPTION)}
    out = []
    for ctr in spec.get("containers") or []:
        argv = tuple(ctr.get("command") or [ctr.get("image", "")]) + tuple(ctr.get("args") or [])
        out.append(UnitSpec(unit_name(pod, ctr["name"]), argv, env=_env(pod, ctr), workdir=ctr.get("workingDir"),
                            restart=restart, options=options))
    return out


def container_status(ctr: dict, unit: UnitStatus | None, runtime: str) -> dict:
    base = {"name": ctr["name"], "image": ctr.get("image", ""), "imageID": "", "ready": False,
            "restartCount": unit.restarts if unit else 0, "started": False}
    if unit is None:
        return {**base, "state": {"waiting": {"reason": "ContainerCreating"}}}
    if unit.pid is not None:
        base["containerID"] = f"berth-{runtime}://{unit.pid}"
    terminated = {"exitCode": unit.exit_code if unit.exit_code is not None else 0,
                  "reason": "Completed" if unit.exit_code == 0 else "Error",
                  "startedAt": stamp(unit.started_at), "finishedAt": stamp(unit.finished_at)}
    if unit.state is UnitState.RUNNING:
        return {**base, "ready": True, "started": True, "state": {"running": {"startedAt": stamp(unit.started_at)}},
                **({"lastState": {"terminated": terminated | {"startedAt": None}}} if unit.restarts else {})}
    if unit.state is UnitState.WAITING:
        reason = "CrashLoopBackOff" if unit.exit_code is not None else "ContainerCreating"
        return {**base, "state": {"waiting": {"reason": reason, "message": unit.message}},
                "lastState": {"terminated": terminated}}
    if unit.state is UnitState.FAILED and unit.started_at is None:
        return {**base, "state": {"waiting": {"reason": "RunContainerError", "message": unit.message}}}
    return {**base, "state": {"terminated": terminated}}


def phase_of(units: list[UnitStatus | None]) -> str:
    if not units or any(u is None for u in units):
        return "Pending"
    states = [u.state for u in units]
    if any(s in (UnitState.RUNNING, UnitState.WAITING, UnitState.STOPPING) for s in states):
        return "Running" if any(u.started_at is not None for u in units) else "Pending"
    if all(s is UnitState.SUCCEEDED for s in states):
        return "Succeeded"
    return "Failed"


def pod_status(pod: dict, units: list[UnitStatus | None], started: float, runtime: str, now: float,
               previous: dict | None = None) -> dict:
    """The status to report for `pod` given its containers' unit statuses (aligned with spec.containers)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = [container_status(c, u, runtime) for c, u in zip(containers, units)]
    ready = bool(statuses) and all(s["ready"] for s in statuses)
    phase = phase_of(units)
    old = {c["type"]: c for c in (previous or {}).get("conditions") or []}

    def cond(kind: str, ok: bool, reason: str | None = None) -> dict:
        value = "True" if ok else "False"
        prior = old.get(kind)
        since = prior["lastTransitionTime"] if prior and prior.get("status") == value else stamp(now)
        out = {"type": kind, "status": value, "lastTransitionTime": since}
        if not ok and reason:
            out["reason"] = reason
        return out

    return {"phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "hostIPs": [{"ip": "127.0.0.1"}], "startTime": stamp(started), "qosClass":
            (pod.get("status") or {}).get("qosClass", "BestEffort"),
            "conditions": [cond("PodScheduled", True), cond("Initialized", True),
                           cond("ContainersReady", ready, "ContainersNotReady"), cond("Ready", ready, "ContainersNotReady")],
            "containerStatuses": statuses}
