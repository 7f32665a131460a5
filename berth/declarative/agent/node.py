"""`NodeAgent`: one node's kubelet logic -- its Node and Lease objects, and its pods' units.

No I/O of its own: `AgentHost` feeds it the pods bound to its node (`observe`, `forget`) and
calls `sync(now)`, which drives the runtime and returns the API writes to make: a pod status
when it changed, or the final DELETE (grace 0) once a terminating pod's containers have all
stopped.  Pods being deleted get their units stopped with the pod's
`deletionGracePeriodSeconds`.  The Node object carries the capacity (the real machine's, or a
declared one for fake nodes), the Ready condition, `127.0.0.1` as address and the log port.
With a `satoken.TokenProjector` (`tokens`), a pod's containers start with its ServiceAccount token
projected into a file, as the kubelet's (the projector's TokenRequest is the one call that leaves; the
host runs it in its pool, and the pod's containers start at the sync after the token is written; on the
container runtime its directory is mounted at the kubelet's path, `satoken.in_container`).
A pod's emptyDir volumes are directories under `volumes` (made when its containers start, removed with
the pod).  A container the runtime cannot run (the process runtime and a container without a command)
waits with `CreateContainerConfigError`, so its pod stays Pending.  What happens to the containers is
also kept as Events in the kubelet's words (`kubeletevents`), which the host drains with `take_events()`
(Normal ones only with `normal_events`).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from berth.declarative.agent import kubeletevents
from berth.declarative.agent.podstatus import last_run, pod_status, stamp
from berth.declarative.agent.satoken import MOUNTED, TokenProjector, in_container
from berth.declarative.agent.units import command_missing, remove_pod_dir, unit_name, unit_specs
from berth.declarative.names import LEASE_NAMESPACE
from berth.model.timestamps import rfc3339_micro
from berth.runtime import Runtime, UnitState, UnitStatus

KUBELET_VERSION = "v1.32.0-berth"
LEASE_SECONDS = 40


def machine_capacity() -> dict[str, str]:
    """This machine's cpu count and memory as quantities, with the usual 110 pods."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": str(os.cpu_count() or 1), "memory": f"{memory // 1024}Ki", "pods": "110"}


@dataclass
class PodRecord:
    pod: dict
    started: float
    units: list[str] = field(default_factory=list)
    sent: dict | None = None
    basis: tuple | None = None
    """(pod object, unit statuses) that `sent` was computed from: the same again means the same status."""
    stopping: bool = False
    finished: bool = False
    blocked: dict[str, UnitStatus] = field(default_factory=dict)
    """Units not started because they cannot be (their waiting status)."""
    last: dict[str, dict] = field(default_factory=dict)
    """Per container name: its previous run's `terminated` record, as seen when it ended."""


class NodeAgent:
    """The pods of one node and how they run."""

    def __init__(self, name: str, runtime: Runtime, capacity: dict[str, str] | None = None,
                 labels: dict[str, str] | None = None, log_port: int = 0,
                 tokens: TokenProjector | None = None, volumes: str | os.PathLike | None = None,
                 normal_events: bool = True) -> None:
        self.name, self.runtime, self.tokens = name, runtime, tokens
        self.volumes = Path(volumes) if volumes is not None else None
        self.normal_events = normal_events
        self.events: list[tuple[dict, str, str, str]] = []
        """Events to record: (pod, type, reason, message); `take_events` hands them over."""
        self.capacity = capacity or machine_capacity()
        self.labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": platform.machine().replace("x86_64", "amd64"), **(labels or {})}
        self.log_port = log_port
        self.pods: dict[str, PodRecord] = {}
        self.dirty: set[str] = set()
        self.terminating: set[str] = set()
        """Keys of pods being deleted whose final DELETE has not been returned yet."""

    # ---- objects ---------------------------------------------------------------------------------
    def node_object(self) -> dict:
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": self.labels},
                "spec": {}}

    def node_status(self, now: float) -> dict:
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "berth agent is posting ready status",
                 "lastHeartbeatTime": stamp(now), "lastTransitionTime": stamp(now)}
        return {"capacity": self.capacity, "allocatable": self.capacity, "conditions": [ready],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.log_port}},
                "nodeInfo": {"kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "", "osImage": platform.platform(),
                             "kernelVersion": platform.release(), "operatingSystem": "linux",
                             "architecture": self.labels["kubernetes.io/arch"],
                             "containerRuntimeVersion": f"berth-{self.runtime.name}://0.1", "machineID": "",
                             "systemUUID": "", "bootID": ""}}

    def lease_object(self, now: float, node_uid: str | None = None) -> dict:
        meta: dict = {"name": self.name, "namespace": LEASE_NAMESPACE}
        if node_uid:
            meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": node_uid}]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS,
                         "renewTime": rfc3339_micro(now)}}

    # ---- pods ------------------------------------------------------------------------------------------
    def observe(self, pod: dict, now: float) -> None:
        key = _key(pod)
        record = self.pods.get(key)
        if record is None or record.pod["metadata"].get("uid") != pod["metadata"].get("uid"):
            if record is not None:
                self._stop_units(record, 0)
                remove_pod_dir(record.pod, self.volumes)
            self.pods[key] = PodRecord(pod, now)
            self.terminating.discard(key)
        else:
            before, record.pod = record.pod, pod
            if record.sent is not None and pod.get("status") == record.sent and _deletion(pod) == _deletion(before):
                return  # the echo of our own status write: nothing to do
        self.dirty.add(key)

    def forget(self, pod: dict) -> None:
        """The pod object is gone: stop and remove its units at once."""
        key = _key(pod)
        record = self.pods.pop(key, None)
        self.terminating.discard(key)
        if record is not None:
            for unit in record.units:
                self.runtime.remove(unit)
            remove_pod_dir(record.pod, self.volumes)
            if self.tokens is not None:
                self.tokens.forget(record.pod)

    def touch(self, pod: dict) -> None:
        """Look at the pod again at the next sync (its token has come, say)."""
        self.dirty.add(_key(pod))

    def take_events(self) -> list[tuple[dict, str, str, str]]:
        """The Events recorded since the last call: (pod, type, reason, message)."""
        events, self.events = self.events, []
        return events

    def _event(self, pod: dict, event: tuple[str, str, str]) -> None:
        if self.normal_events or event[0] != kubeletevents.NORMAL:
            self.events.append((pod, *event))

    def stopping(self) -> bool:
        """True while a pod being deleted still waits for its units to stop."""
        return bool(self.terminating)

    def sync(self, now: float) -> list[tuple[str, dict, dict | None]]:
        """Drive units and return writes: ("status", pod, status) or ("delete", pod, None).

        Only pods that changed (observed again, or a unit of theirs changed state) are looked at.
        """
        for unit in self.runtime.sync():
            self.dirty.add(unit.name.rsplit("/", 1)[0])
        if self.tokens is not None:
            self.tokens.refresh()
        if not self.dirty:
            return []
        dirty, self.dirty = self.dirty, set()
        writes: list[tuple[str, dict, dict | None]] = []
        for key in dirty:
            record = self.pods.get(key)
            if record is not None:
                writes.extend(self._sync_pod(record, now))
        return writes

    def _sync_pod(self, record: PodRecord, now: float) -> list:
        pod, meta = record.pod, record.pod["metadata"]
        if meta.get("deletionTimestamp"):
            if not record.stopping:
                record.stopping = True
                self.terminating.add(_key(pod))
                self._stop_units(record, float(meta.get("deletionGracePeriodSeconds") or 0))
            if all((s := self.runtime.status(u)) is None or s.state.terminal for u in record.units):
                if record.finished:
                    return []
                record.finished = True
                self.terminating.discard(_key(pod))
                remove_pod_dir(pod, self.volumes)
                return [("delete", pod, None)]
            return []
        if not record.units and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            self._start_units(record)
        units = [record.blocked.get(u) or self.runtime.status(u) for u in record.units]
        if record.basis is not None and record.basis[0] is pod and record.basis[1] == units:
            return []
        self._observe_units(record, record.basis[1] if record.basis else [], units)
        record.basis = (pod, units)
        status = pod_status(pod, units, record.started, self.runtime.name, now, record.sent, record.last)
        if status != record.sent:
            record.sent = status
            return [("status", pod, status)]
        return []

    def _observe_units(self, record: PodRecord, before: list, after: list) -> None:
        """Keep each container's ended run (for lastState) and record the Events of what changed."""
        containers = (record.pod.get("spec") or {}).get("containers") or []
        before = before + [None] * (len(after) - len(before))
        for ctr, old, new in zip(containers, before, after):
            ended = last_run(new) if new is not None else None
            if ended is not None:
                record.last[ctr["name"]] = ended
            for event in kubeletevents.container_events(record.pod, ctr, old, new):
                self._event(record.pod, event)

    def _start_units(self, record: PodRecord) -> None:
        projected = self.tokens.env(record.pod) if self.tokens is not None else {}
        if projected is None:
            return  # its token is being requested: the projector wakes the pod once it is written
        containers = (record.pod.get("spec") or {}).get("containers") or []
        try:
            specs = unit_specs(record.pod, self._volume_root(record.pod))
        except OSError as err:  # a volume's directory could not be made
            for ctr in containers:
                self._block(record, unit_name(record.pod, ctr["name"]), f"the pod's volumes: {err}")
            return
        for ctr, spec in zip(containers, specs):
            problem = command_missing(ctr, self.runtime.name) or self._start(spec, projected)
            if problem is not None:
                self._block(record, spec.name, problem)
            elif spec.name not in record.units:
                record.units.append(spec.name)

    def _start(self, spec, projected: dict[str, str]) -> str | None:
        """Start one unit; a message when it cannot be."""
        if projected:
            env, mounts = in_container(projected) if self.runtime.name in MOUNTED else (projected, ())
            spec = dataclasses.replace(spec, env={**env, **spec.env}, mounts=spec.mounts + mounts)
        if self.runtime.status(spec.name) is not None:
            self.runtime.remove(spec.name)
        try:
            self.runtime.start(spec)
        except ValueError as err:
            return str(err)
        return None

    def _block(self, record: PodRecord, unit: str, problem: str) -> None:
        record.blocked[unit] = UnitStatus(unit, UnitState.WAITING, reason="CreateContainerConfigError",
                                          message=problem)
        if unit not in record.units:
            record.units.append(unit)
        self._event(record.pod, kubeletevents.config_error(problem))

    def _volume_root(self, pod: dict) -> Path | None:
        """Where the pod's emptyDir volumes go (a private temporary directory unless one was given)."""
        if self.volumes is None and any("emptyDir" in v for v in (pod.get("spec") or {}).get("volumes") or []):
            self.volumes = Path(tempfile.mkdtemp(prefix=f"berth-volumes-{self.name}-"))
        return self.volumes

    def _stop_units(self, record: PodRecord, grace: float) -> None:
        for unit in record.units:
            status = self.runtime.status(unit)
            if status is not None and status.state in (UnitState.RUNNING, UnitState.WAITING):
                self.runtime.stop(unit, grace)
                if status.state is UnitState.RUNNING:
                    self._event(record.pod, kubeletevents.killing(unit.rsplit("/", 1)[1]))

    def logs(self, namespace: str, pod: str, container: str | None, tail: int | None, previous: bool) -> bytes | None:
        record = self.pods.get(f"{namespace}/{pod}")
        if record is None:
            return None
        containers = [c["name"] for c in (record.pod.get("spec") or {}).get("containers") or []]
        name = container or (containers[0] if containers else "")
        return self.runtime.logs(f"{namespace}/{pod}/{name}", tail, previous)


def _deletion(pod: dict) -> tuple:
    meta = pod["metadata"]
    return meta.get("deletionTimestamp"), meta.get("deletionGracePeriodSeconds")


def _key(pod: dict) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"
