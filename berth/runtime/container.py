"""The `container` runtime: each unit is a podman container run from an image; a group is a pod.

Every slow podman call (a pull with the run, a start, a stop, a pod's creation) runs as a child
process that `sync()` polls, so no method waits on the engine (but `exec`, which waits by
contract, and `close`).  A unit with a `group` runs in that group's pod (one network namespace,
one address on podman's CNI bridge); a unit of its own gets a network namespace of its own.
Exits are seen by one batched `podman ps` child at most every `poll_interval` seconds; an exit
137 is `OOMKilled` when the kernel log holds an OOM kill in the container's memory cgroup.  The
restart policy is berth's (back-off doubling from `backoff` to `max_backoff`): the container is
started again, its previous run's log kept.  A failed pull leaves the unit WAITING with
`ErrImagePull`, then `ImagePullBackOff` until the next try (10 s doubling to 300 s, as the
kubelet), never FAILED.  Containers carry labels (`berth.unit`, `berth.runtime`), the identity a
new runtime with the same `runtime_id` finds them by; `close()` removes them and their pods.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from berth.runtime import podman
from berth.runtime.base import ExecResult, UnitSpec, UnitState, UnitStatus, Usage, backoff_delay, tail_lines
from berth.runtime.clock import Clock, SystemClock
from berth.runtime.units import UnitTable, exit_reason

LIVE = (UnitState.RUNNING, UnitState.STOPPING)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class _Child:
    """A podman command in flight; its output goes to files (a pipe could fill and stall it)."""

    popen: subprocess.Popen
    kind: str
    out: object
    err: object
    seqs: dict = field(default_factory=dict)

    def result(self) -> tuple[int, str, str] | None:
        code = self.popen.poll()
        if code is None:
            return None
        texts = []
        for stream in (self.out, self.err):
            stream.seek(0)
            texts.append(stream.read().decode(errors="replace"))
            stream.close()
        return code, texts[0], texts[1]


@dataclass
class _Unit:
    spec: UnitSpec
    status: UnitStatus
    container: str
    child: _Child | None = None
    container_id: str = ""
    created: bool = False
    next_start: float | None = None
    crashes: int = 0
    pulls: int = 0
    stop_deadline: float | None = None
    killed: bool = False
    seq: int = 0
    changed: bool = True


@dataclass
class _Pod:
    name: str
    child: _Child | None = None
    ip: str | None = None
    error: str = ""


class ContainerRuntime(UnitTable):
    """Runs units as podman containers (see the module doc)."""

    name = "container"

    def __init__(self, log_dir: str | os.PathLike | None = None, clock: Clock | None = None, *,
                 runtime_id: str | None = None, engine_dir: str | os.PathLike | None = None,
                 backoff: float = 1.0, max_backoff: float = 30.0, pull_backoff: float = 10.0,
                 max_pull_backoff: float = 300.0, poll_interval: float = 0.5, reset_after: float = 300.0) -> None:
        super().__init__(clock or SystemClock(), backoff, max_backoff, reset_after)
        self.runtime_id = runtime_id or secrets.token_hex(4)
        self._own_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="berth-container-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = os.environ | podman.engine_env(Path(engine_dir) if engine_dir else None)
        self.pull_backoff, self.max_pull_backoff, self.poll_interval = pull_backoff, max_pull_backoff, poll_interval
        self._pods: dict[str, _Pod] = {}
        self._ps: _Child | None = None
        self._last_ps = 0.0
        self._cleanup: list[_Child] = []
        self._orphans: list[tuple[_Child, list[str]]] = []
        """Calls abandoned in flight, and the removal to run once each ends (what it made goes too)."""

    # ---- the Runtime contract ------------------------------------------------------------------
    def start(self, spec: UnitSpec) -> UnitStatus:
        if spec.name in self._units:
            raise ValueError(f"unit {spec.name!r} already exists")
        if not spec.image:
            raise ValueError(f"unit {spec.name!r} has no image")
        container = f"berth-{self.runtime_id}-{_stem(spec.name)}-{secrets.token_hex(3)}"
        unit = _Unit(spec, UnitStatus(spec.name, UnitState.WAITING, reason="ContainerCreating"), container)
        self._units[spec.name] = unit
        if spec.group and spec.group not in self._pods:
            self._create_pod(spec.group)
        self._launch(unit)
        return unit.status

    def sync(self) -> list[UnitStatus]:
        now = self.clock.now()
        self._sync_pods()
        self._sync_ps(now)
        for unit in list(self._units.values()):
            self._observe(unit, now)
        self._reap()
        return self.changed()

    def stop(self, name: str, grace: float) -> None:
        unit = self._units.get(name)
        if unit is None or unit.status.state.terminal or unit.status.state is UnitState.STOPPING:
            return
        if unit.status.state is not UnitState.RUNNING:
            self._abandon(unit)
            self.set(unit, state=UnitState.STOPPED, finished_at=self.clock.now(), pid=None)
            return
        unit.stop_deadline = self.clock.now() + max(0.0, grace)
        self._signal(unit, "KILL" if grace <= 0 else "TERM")
        self.set(unit, state=UnitState.STOPPING)

    def remove(self, name: str) -> None:
        unit = self._units.pop(name, None)
        if unit is None:
            return
        self._abandon(unit)
        if unit.created:
            self._cleanup.append(self._spawn(["podman", "rm", "--force", "--time=0", unit.container], "rm"))
        for path in (self._log_path(name), self._log_path(name, previous=True)):
            path.unlink(missing_ok=True)
        group = unit.spec.group
        if group and not any(u.spec.group == group for u in self._units.values()):
            pod = self._pods.pop(group)
            removal = ["podman", "pod", "rm", "--force", pod.name]
            if pod.child is not None:
                self._orphans.append((pod.child, removal))
            else:
                self._cleanup.append(self._spawn(removal, "rm"))

    def logs(self, name: str, tail: int | None = None, previous: bool = False) -> bytes | None:
        if name not in self._units:
            return None
        return tail_lines(podman.read_k8s_log(self._log_path(name, previous)), tail)

    def exec(self, name: str, argv: tuple[str, ...], timeout: float = 30.0) -> ExecResult | None:
        unit = self._units.get(name)
        if unit is None or unit.status.state is not UnitState.RUNNING:
            return None
        try:
            done = subprocess.run(["podman", "exec", unit.container, *argv], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env, timeout=timeout,
                                  cwd=self.log_dir)
        except subprocess.TimeoutExpired as err:
            return ExecResult(124, err.output or b"")
        return ExecResult(done.returncode, done.stdout)

    def usage(self, name: str) -> Usage | None:
        unit = self._units.get(name)
        if unit is None:
            return None
        if unit.status.pid and unit.status.state is UnitState.RUNNING:
            return podman.cgroup_usage(unit.status.pid) or Usage(0.0, 0)
        return Usage(0.0, 0)

    def close(self) -> None:
        for unit in self._units.values():
            self._abandon(unit)
        pods = [p.child for p in self._pods.values() if p.child]
        for child in self._cleanup + [c for c, _ in self._orphans] + pods + ([self._ps] if self._ps else []):
            child.popen.wait()
        label = f"label={podman.LABEL_RUNTIME}={self.runtime_id}"
        ids = self._podman(["ps", "-aq", "--filter", label]).split()
        if ids:
            self._podman(["rm", "--force", "--time=0", *ids])
        pods = self._podman(["pod", "ps", "-q", "--filter", label]).split()
        if pods:
            self._podman(["pod", "rm", "--force", *pods])
        self._units.clear()
        self._pods.clear()
        self._cleanup, self._orphans, self._ps = [], [], None
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    # ---- supervision -----------------------------------------------------------------------------
    def _observe(self, unit: _Unit, now: float) -> None:
        if unit.child is not None:
            done = unit.child.result()
            if done is not None:
                kind, unit.child = unit.child.kind, None
                HANDLERS[kind](self, unit, now, *done)
            return
        state, reason = unit.status.state, unit.status.reason
        if state is UnitState.WAITING and reason == "ErrImagePull":
            self.set(unit, reason="ImagePullBackOff")
        elif state is UnitState.WAITING and unit.next_start is not None and now >= unit.next_start:
            self._launch(unit)
        elif state is UnitState.STOPPING and not unit.killed and now >= (unit.stop_deadline or now):
            self._signal(unit, "KILL")

    def _launch(self, unit: _Unit) -> None:
        """Run the container (pull, create, start), or start it again; after its pod when in one."""
        group = unit.spec.group
        pod = self._pods.get(group) if group else None
        unit.next_start = None
        if pod is not None and pod.ip is None:  # the pod is still being made: `_sync_pods` launches
            return
        if unit.created:
            current = self._log_path(unit.spec.name)
            if current.exists():
                current.replace(self._log_path(unit.spec.name, previous=True))
            argv = ["podman", "start", unit.container]
            self.set(unit, restarts=unit.status.restarts + 1)
        else:
            argv = podman.run_argv(unit.spec, unit.container, self.runtime_id, self._log_path(unit.spec.name),
                                   pod.name if pod else None)
        unit.child = self._spawn(podman.then_inspect([argv], unit.container), "start")

    def _started(self, unit: _Unit, now: float, code: int, out: str, err: str) -> None:
        if code != 0:
            self._start_failed(unit, now, code, err)
            return
        ip, pid, container_id = (out.strip().split("|") + ["", "0", ""])[:3]
        pod = self._pods.get(unit.spec.group)
        unit.created, unit.container_id, unit.seq = True, container_id, unit.seq + 1
        unit.stop_deadline, unit.killed = None, False
        self.set(unit, state=UnitState.RUNNING, started_at=now, finished_at=None,
                  pid=int(pid or 0) or None, ip=(pod.ip if pod else ip) or None, reason="", message="")

    def _start_failed(self, unit: _Unit, now: float, code: int, err: str) -> None:
        message = _last_line(err)
        reason = podman.pull_reason(err) if not unit.created else None
        if reason is None:  # the engine pulled and created but could not run it: the command is bad
            unit.created = True
            self.set(unit, state=UnitState.FAILED, exit_code=code if code in (126, 127) else 128,
                      finished_at=now, pid=None, reason="StartError", message=message)
            return
        if reason == "ErrImagePull":
            unit.next_start = now + backoff_delay(unit.pulls, self.pull_backoff, self.max_pull_backoff)
            unit.pulls += 1
        self.set(unit, state=UnitState.WAITING, reason=reason, message=message)

    def _exited(self, unit: _Unit, code: int, now: float) -> None:
        self.ended(unit, code, exit_reason(code, code == 137 and podman.oom_killed(unit.container_id)), now)

    # ---- pods and the batched exit poll ----------------------------------------------------------
    def _create_pod(self, group: str) -> None:
        pod = _Pod(f"berth-{self.runtime_id}-{_stem(group)}-{secrets.token_hex(3)}")
        pod.child = self._spawn(podman.then_inspect(podman.pod_argvs(pod.name, self.runtime_id, podman.hostname_of(group)), f"{pod.name}-infra"),
                                "pod")
        self._pods[group] = pod

    def _sync_pods(self) -> None:
        for group, pod in self._pods.items():
            done = pod.child.result() if pod.child else None
            if done is None:
                continue
            pod.child = None
            code, out, err = done
            if code == 0 and out.split("|")[0].strip():
                pod.ip = out.split("|")[0].strip()
            else:
                pod.error = _last_line(err) or "pod creation failed"
            for unit in self._units.values():
                if unit.spec.group == group and unit.child is None and unit.status.state is UnitState.WAITING:
                    self._pod_ready(unit, pod)

    def _pod_ready(self, unit: _Unit, pod: _Pod) -> None:
        if pod.error:
            self.set(unit, state=UnitState.FAILED, finished_at=self.clock.now(), reason="StartError",
                      message=f"pod {pod.name}: {pod.error}")
        elif unit.next_start is None:
            self._launch(unit)

    def _sync_ps(self, now: float) -> None:
        if self._ps is not None:
            done = self._ps.result()
            if done is None:
                return
            seqs, self._ps = self._ps.seqs, None
            if done[0] == 0:
                self._seen(json.loads(done[1] or "[]"), seqs, now)
        running = {n: u.seq for n, u in self._units.items() if u.status.state in LIVE and u.child is None}
        if running and time.monotonic() - self._last_ps >= self.poll_interval:
            self._last_ps = time.monotonic()
            argv = ["podman", "ps", "-a", "--format=json", f"--filter=label={podman.LABEL_RUNTIME}={self.runtime_id}"]
            self._ps = self._spawn(argv, "ps")
            self._ps.seqs = running

    def _seen(self, containers: list[dict], seqs: dict, now: float) -> None:
        for ctr in containers:
            unit = self._units.get((ctr.get("Labels") or {}).get(podman.LABEL_UNIT, ""))
            if unit is None or ctr.get("Id") != unit.container_id or seqs.get(unit.spec.name) != unit.seq:
                continue
            if unit.child is None and unit.status.state in LIVE and ctr.get("State") == "exited":
                self._exited(unit, int(ctr.get("ExitCode", 0)), now)

    # ---- helpers ---------------------------------------------------------------------------------
    def _spawn(self, argv: list[str], kind: str) -> _Child:
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=self.env,
                                 start_new_session=True, cwd=self.log_dir)  # podman's conmon writes files here
        return _Child(popen, kind, out, err)

    def _signal(self, unit: _Unit, signal: str) -> None:
        unit.killed = unit.killed or signal == "KILL"
        self._cleanup.append(self._spawn(["podman", "kill", f"--signal={signal}", unit.container], "kill"))

    def _abandon(self, unit: _Unit) -> None:
        """Forget the unit's podman call in flight; a container it goes on to make is removed."""
        if unit.child is not None:
            self._orphans.append((unit.child, ["podman", "rm", "--force", "--time=0", unit.container]))
            unit.child = None

    def _reap(self) -> None:
        self._cleanup = [c for c in self._cleanup if c.popen.poll() is None]
        waiting = []
        for child, removal in self._orphans:
            if child.popen.poll() is None:
                waiting.append((child, removal))
            elif child.popen.returncode == 0:
                self._cleanup.append(self._spawn(removal, "rm"))
        self._orphans = waiting

    def _podman(self, args: list[str]) -> str:
        done = subprocess.run(["podman", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=self.env, cwd=self.log_dir)
        return done.stdout

    def _log_path(self, name: str, previous: bool = False) -> Path:
        stem = _stem(name)
        return self.log_dir / (f"{stem}.prev.log" if previous else f"{stem}.log")


HANDLERS = {"start": ContainerRuntime._started}
"""A finished unit call's kind -> what to make of it (code, stdout, stderr)."""


def _stem(name: str) -> str:
    return f"{_UNSAFE.sub('_', name)[:60].lower()}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""
