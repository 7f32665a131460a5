"""The `vm` runtime: each unit is a QEMU virtual machine booting a kernel + busybox initramfs image.

A unit's `image` names a boot image made by `berth images seed` (`<home>/vm/images/<name>/`:
`vmlinux` and `initrd.gz`, see `berth.launch.vmimages`); its `command` is what the guest's init
runs (see `berth.runtime.vmguest`); its `resources` size the guest: vCPUs from the CPU limit
(rounded up; 1 without one) and RAM from the memory limit (at least `MIN_GUEST_MIB`; the limit
itself is enforced by a cgroup inside the guest, so a unit over it is `OOMKilled` with exit code
137).  The CPU limit also caps QEMU's host CPU time through a host cgroup where the machine has
them (`berth.runtime.cgroups`).  Each run has a directory of its own in `state_dir` holding the
per-unit initramfs, QEMU's pidfile, its QMP socket, the serial console (`console.log`: Nova's
console log, `console()`), the unit's output (`output.log`: `logs()`) and the exec channel.

Nothing waits: `start` spawns QEMU, which daemonises once the machine is built; `sync()` reaps
that launcher, reads the pidfile, asks QEMU its power state through QMP (`query-status`) and sees
QEMU gone when the guest powered itself off.  The exit code is the one the guest's init reported
on its console (`berth-guest: exit N`); a guest that ends without reporting one FAILED with
reason `Error`.  `stop(grace)` presses the ACPI power button (QMP `system_powerdown`: the init
sends the command SIGTERM), then after the grace QMP `quit` and SIGKILL (exit 137).  The QEMU
process is known by its pid and its kernel start time (`qemu.Identity`, kept in each run's
directory), which a restarted agent's runtime can check before trusting a pidfile.  `accel` is
`kvm` or `tcg` (default: what `berth images seed`'s probe cached in `<home>/vm/accel`, else tcg);
each status message says which one runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from berth.runtime import qemu, vmguest
from berth.runtime.base import ExecResult, UnitResources, UnitSpec, UnitState, UnitStatus, Usage, \
    tail_lines
from berth.runtime.cgroups import Hierarchy, UnitCgroup, remove_soon
from berth.runtime.clock import Clock, SystemClock
from berth.runtime.podman import default_home
from berth.runtime.units import UnitTable, exit_reason

MIN_GUEST_MIB = 128
"""The smallest guest: Debian's kernel and the initramfs need about 96 MiB before the unit runs."""
DEFAULT_IMAGE = "busybox"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_IDS = itertools.count()


def images_dir() -> Path:
    return default_home() / "vm" / "images"


def cached_accel() -> str | None:
    """The accelerator the probe found for this machine (`kvm` or `tcg`), or None before a probe."""
    try:
        accel = (default_home() / "vm" / "accel").read_text().split()[0]
    except (OSError, IndexError):
        return None
    return accel if accel in qemu.ACCELS else None


def guest_size(res: UnitResources) -> tuple[int, int]:
    """(vCPUs, RAM in MiB) of a unit's guest."""
    vcpus = max(1, math.ceil((res.cpu_limit_millis or 1000) / 1000))
    mib = math.ceil((res.memory_limit_bytes or 0) / 2**20)
    return vcpus, max(MIN_GUEST_MIB, mib)


@dataclass
class _Unit:
    spec: UnitSpec
    status: UnitStatus
    dir: Path
    launcher: subprocess.Popen | None = None
    identity: qemu.Identity | None = None
    next_start: float | None = None
    stop_deadline: float | None = None
    killed: bool = False
    crashes: int = 0
    changed: bool = True
    cgroup: UnitCgroup | None = None


class VmRuntime(UnitTable):
    """Runs units as QEMU guests, children of this process that daemonise."""

    name = "vm"

    def __init__(self, state_dir: str | os.PathLike | None = None, clock: Clock | None = None, *,
                 images: str | os.PathLike | None = None, accel: str | None = None, backoff: float = 1.0,
                 max_backoff: float = 30.0, reset_after: float = 300.0, cgroups: bool | None = None) -> None:
        super().__init__(clock or SystemClock(), backoff, max_backoff, reset_after)
        self._own_dir = state_dir is None
        self.dir = Path(state_dir or tempfile.mkdtemp(prefix="berth-vm-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.images = Path(images or images_dir())
        self.accel = accel or cached_accel() or "tcg"
        if self.accel not in qemu.ACCELS:
            raise ValueError(f"accel: {self.accel!r} is not one of {sorted(qemu.ACCELS)}")
        self.id = f"vm{os.getpid()}.{next(_IDS)}"
        self.cgroups = Hierarchy.detect(self.id) if cgroups is not False else None
        self._leftovers: list[UnitCgroup] = []

    # ---- the Runtime contract ------------------------------------------------------------------
    def start(self, spec: UnitSpec) -> UnitStatus:
        if spec.name in self._units:
            raise ValueError(f"unit {spec.name!r} already exists")
        unit = _Unit(spec, UnitStatus(spec.name, UnitState.WAITING, reason="ContainerCreating"), self._unit_dir(spec))
        self._units[spec.name] = unit
        self._launch(unit)
        return unit.status

    def sync(self) -> list[UnitStatus]:
        if self._leftovers:
            self._leftovers = remove_soon(self._leftovers, timeout=0)
        now = self.clock.now()
        for unit in self._units.values():
            self._observe(unit, now)
        return self.changed()

    def stop(self, name: str, grace: float) -> None:
        unit = self._units.get(name)
        if unit is None or unit.status.state.terminal or unit.status.state is UnitState.STOPPING:
            return
        if unit.status.state is UnitState.WAITING and unit.launcher is None:
            self.set(unit, state=UnitState.STOPPED, finished_at=self.clock.now(), pid=None,
                      reason=exit_reason(unit.status.exit_code or 0))
            return
        qemu.qmp(qemu.sock_path(unit.dir, "qmp.sock"), "system_powerdown")
        unit.stop_deadline = self.clock.now() + max(0.0, grace)
        self.set(unit, state=UnitState.STOPPING)
        if grace <= 0:
            self._kill(unit)

    def remove(self, name: str) -> None:
        unit = self._units.pop(name, None)
        if unit is None:
            return
        self._kill(unit)
        if unit.cgroup is not None:
            self._leftovers += remove_soon([unit.cgroup], timeout=0.2)
        shutil.rmtree(qemu.sock_path(unit.dir, "qmp.sock").parent, ignore_errors=True)  # a short socket dir
        shutil.rmtree(unit.dir, ignore_errors=True)

    def logs(self, name: str, tail: int | None = None, previous: bool = False) -> bytes | None:
        unit = self._units.get(name)
        if unit is None:
            return None
        path = unit.dir / ("output.prev.log" if previous else "output.log")
        return tail_lines(path.read_bytes(), tail) if path.exists() else b""

    def console(self, name: str, tail: int | None = None) -> bytes | None:
        """The guest's serial console of its current (or last) run: boot messages, the init's lines and the
        unit's output, with line ends as written to a file (Nova's console log); None for an unknown unit."""
        unit = self._units.get(name)
        if unit is None:
            return None
        path = unit.dir / "console.log"
        return tail_lines(path.read_bytes().replace(b"\r\n", b"\n"), tail) if path.exists() else b""

    def exec(self, name: str, argv: tuple[str, ...], timeout: float = 30.0) -> ExecResult | None:
        unit = self._units.get(name)
        if unit is None or unit.status.state is not UnitState.RUNNING or not argv:
            return None
        done = qemu.exec_in(qemu.sock_path(unit.dir, "exec.sock"), "exec " + " ".join(map(_quote, argv)) + "\n", timeout)
        return ExecResult(124, b"") if done is None else ExecResult(*done)

    def usage(self, name: str) -> Usage | None:
        unit = self._units.get(name)
        if unit is None:
            return None
        if unit.cgroup is not None:
            return unit.cgroup.usage()
        if unit.identity is None:
            return Usage(0.0, 0)
        return Usage(*qemu.proc_usage(unit.identity.pid))

    def close(self) -> None:
        for name in list(self._units):
            self.remove(name)
        self._leftovers = remove_soon(self._leftovers)
        if self.cgroups is not None:
            self.cgroups.close()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- supervision -----------------------------------------------------------------------------
    def _observe(self, unit: _Unit, now: float) -> None:
        state = unit.status.state
        if unit.launcher is not None:
            if unit.launcher.poll() is not None:
                self._launched(unit, now)
            elif state is UnitState.STOPPING and now >= (unit.stop_deadline or now) and not unit.killed:
                self._kill(unit)
        elif state in (UnitState.RUNNING, UnitState.STOPPING):
            if unit.identity is None or not unit.identity.alive():
                self._ended(unit, now)
            elif state is UnitState.STOPPING and now >= (unit.stop_deadline or now) and not unit.killed:
                self._kill(unit)
            else:
                self._power_state(unit)
        elif state is UnitState.WAITING and unit.next_start is not None and now >= unit.next_start:
            self.set(unit, restarts=unit.status.restarts + 1)
            self._launch(unit)

    def _launch(self, unit: _Unit) -> None:
        """Write the run's initramfs and spawn QEMU (it daemonises; `sync` reaps the launcher)."""
        unit.next_start, unit.stop_deadline, unit.killed, unit.identity = None, None, False, None
        image = self.images / (unit.spec.image or DEFAULT_IMAGE)
        if not (image / "vmlinux").is_file() or not (image / "initrd.gz").is_file():
            self._fail(unit, f"no VM image {unit.spec.image or DEFAULT_IMAGE!r} in {self.images} "
                             "(make it with: berth images seed vm)")
            return
        self._rotate(unit)
        vcpus, mib = guest_size(unit.spec.resources)
        initrd = (image / "initrd.gz").read_bytes()
        initrd += b"\0" * (-len(initrd) % 4) + vmguest.unit_archive(unit.spec, _hostname(unit.spec.name),
                                                                   unit.spec.resources.memory_limit_bytes)
        (unit.dir / "initrd").write_bytes(initrd)
        argv = qemu.argv(image / "vmlinux", unit.dir / "initrd", unit.dir, vcpus=vcpus, memory_mib=mib,
                         accel=self.accel, name=f"berth-{unit.dir.name}")
        argv = self._in_cgroup(unit, argv)
        unit.launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=open(unit.dir / "qemu.err", "wb"), start_new_session=True)

    def _launched(self, unit: _Unit, now: float) -> None:
        code, unit.launcher = unit.launcher.returncode, None
        pid = _read_int(unit.dir / "qemu.pid")
        unit.identity = qemu.Identity.of(pid) if code == 0 and pid else None
        if unit.identity is None:
            why = (unit.dir / "qemu.err").read_text(errors="replace").strip().splitlines()[-1:] or [f"exit {code}"]
            self._fail(unit, f"QEMU did not start: {why[0]}")
            return
        (unit.dir / "identity").write_text(unit.identity.to_json())
        self.set(unit, state=UnitState.RUNNING, started_at=now, finished_at=None, exit_code=None, reason="",
                  pid=unit.identity.pid, message=f"QEMU {self.accel} pid {unit.identity.pid}: booting")
        if unit.status.state is UnitState.RUNNING and unit.stop_deadline is not None:
            self.set(unit, state=UnitState.STOPPING)

    def _power_state(self, unit: _Unit) -> None:
        """Ask QEMU, not the pidfile, what the guest is doing (running, paused, shutdown, guest-panicked)."""
        answer = qemu.qmp(qemu.sock_path(unit.dir, "qmp.sock"), "query-status", timeout=0.2)
        if answer and answer.get("status"):
            message = f"QEMU {self.accel} pid {unit.identity.pid}: {answer['status']}"
            if message != unit.status.message:
                self.set(unit, message=message)
            if answer["status"] in ("shutdown", "guest-panicked", "internal-error"):
                qemu.qmp(qemu.sock_path(unit.dir, "qmp.sock"), "quit")

    def _ended(self, unit: _Unit, now: float) -> None:
        reported = vmguest.exit_code((unit.dir / "console.log").read_bytes()) if unit.dir.exists() else None
        code, oom = reported if reported and not unit.killed else (137 if unit.killed else 1, False)
        reason = exit_reason(code, oom)
        message = f"QEMU {self.accel}: " + ("ended by QMP quit or SIGKILL" if unit.killed else "guest powered off" +
                                            ("" if reported else ", its init reported no exit code"))
        unit.identity = None
        self.ended(unit, code, reason, now, message)

    def _kill(self, unit: _Unit) -> None:
        """QMP `quit`, then SIGKILL (QEMU and whatever is in its cgroup).  A QEMU still daemonising is
        waited for (a fraction of a second) so that it cannot outlive the kill."""
        unit.killed = True
        if unit.launcher is not None:
            unit.launcher.wait()
            unit.launcher = None
            pid = _read_int(unit.dir / "qemu.pid")
            unit.identity = unit.identity or (qemu.Identity.of(pid) if pid else None)
        if unit.identity is not None and unit.identity.alive():
            qemu.qmp(qemu.sock_path(unit.dir, "qmp.sock"), "quit", timeout=0.2)
            if unit.identity.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(unit.identity.pid, signal.SIGKILL)
        if unit.cgroup is not None:
            unit.cgroup.kill()

    def _fail(self, unit: _Unit, message: str) -> None:
        self.set(unit, state=UnitState.FAILED, exit_code=128, finished_at=self.clock.now(), pid=None,
                  reason="Error", message=message)

    def _rotate(self, unit: _Unit) -> None:
        unit.dir.mkdir(parents=True, exist_ok=True)
        output = unit.dir / "output.log"
        if output.exists():
            output.replace(unit.dir / "output.prev.log")
        for stale in ("console.log", "qemu.pid", "identity"):
            (unit.dir / stale).unlink(missing_ok=True)
        for sock in ("qmp.sock", "exec.sock"):
            qemu.sock_path(unit.dir, sock).unlink(missing_ok=True)

    def _in_cgroup(self, unit: _Unit, argv: list[str]) -> list[str]:
        """QEMU in a host cgroup capping its CPU at the unit's limit (memory: the guest's own)."""
        if self.cgroups is None:
            return argv
        if unit.cgroup is None:
            res = unit.spec.resources
            unit.cgroup = self.cgroups.unit(unit.dir.name, UnitResources(res.cpu_request_millis, res.cpu_limit_millis))
        return unit.cgroup.join_argv(tuple(argv))

    def _unit_dir(self, spec: UnitSpec) -> Path:
        digest = hashlib.sha256(spec.name.encode()).hexdigest()[:8]
        return self.dir / f"{_UNSAFE.sub('_', spec.name)[:32]}-{digest}"


def _hostname(name: str) -> str:
    return (_UNSAFE.sub("-", name.split("/")[-1]).strip("-.") or "guest")[:63]


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
