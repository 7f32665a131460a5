"""The `process` runtime: each unit is a real subprocess, its output captured to a log file.

A unit's command runs in its own session (process group), with stdin closed and stdout+stderr
appended to `<log_dir>/<unit>.log`; the previous run's log is kept as `<unit>.prev.log` for
`logs(previous=True)`.  `sync()` reaps exits with `Popen.poll()` (never waits), applies the
restart policy with a doubling back-off, and escalates stops: SIGTERM to the process group at
`stop()`, SIGKILL once the grace period has passed.  Exit by signal N is reported as 128+N,
as container runtimes do.  Used by the node agents of both planes and by `berth up`.

Where the machine allows it (see `berth.runtime.cgroups`), each unit runs in cgroups of its own
with its CPU and memory limits, joined before the program starts: a unit over its memory limit
is killed by the kernel and reported `OOMKilled` (exit code 137, the restart policy applies),
`usage` reads the cgroup, and whatever a run leaves in its cgroup is killed when it ends.  Where
it does not, units run as plain subprocesses and `usage` reads /proc (the main process only).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from berth.runtime.base import ExecResult, UnitSpec, UnitState, UnitStatus, Usage, tail_lines
from berth.runtime.cgroups import Hierarchy, UnitCgroup, remove_soon
from berth.runtime.clock import Clock, SystemClock
from berth.runtime.units import UnitTable, exit_reason

BASE_ENV = ("PATH", "HOME", "LANG", "TZ")
"""Variables passed through from the runtime's own environment (a unit's `env` comes on top)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_IDS = itertools.count()


@dataclass
class _Unit:
    spec: UnitSpec
    status: UnitStatus
    popen: subprocess.Popen | None = None
    next_start: float | None = None
    stop_deadline: float | None = None
    killed: bool = False
    crashes: int = 0
    changed: bool = True
    cgroup: UnitCgroup | None = None
    oom_base: int = 0
    """The cgroup's OOM-kill count when the current run started."""


class ProcessRuntime(UnitTable):
    """Runs units as subprocesses of this process."""

    name = "process"

    def __init__(self, log_dir: str | os.PathLike | None = None, clock: Clock | None = None, *,
                 backoff: float = 1.0, max_backoff: float = 30.0, reset_after: float = 300.0,
                 cgroups: bool | None = None, pids_limit: int | None = None) -> None:
        """`cgroups`: None uses them where the machine allows, True requires them (RuntimeError if it
        does not), False never; `pids_limit` caps each unit's processes (None: no cap)."""
        super().__init__(clock or SystemClock(), backoff, max_backoff, reset_after)
        self._own_dir = log_dir is None
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="berth-process-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.id = f"{os.getpid()}.{next(_IDS)}"
        self.cgroups = Hierarchy.detect(self.id) if cgroups is not False else None
        if cgroups and self.cgroups is None:
            raise RuntimeError("this machine allows no cgroups here (root and the memory, cpu, cpuacct and pids "
                               "controllers of cgroup v1, or v2 with them delegated, are needed)")
        self.pids_limit = pids_limit
        self._leftovers: list[UnitCgroup] = []

    # ---- the Runtime contract ------------------------------------------------------------------
    def start(self, spec: UnitSpec) -> UnitStatus:
        if spec.name in self._units:
            raise ValueError(f"unit {spec.name!r} already exists")
        unit = _Unit(spec, UnitStatus(spec.name, UnitState.WAITING))
        self._units[spec.name] = unit
        self._launch(unit, first=True)
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
        if unit is None or unit.status.state.terminal:
            return
        if unit.status.state is UnitState.STOPPING:
            return
        if unit.popen is None or unit.popen.poll() is not None:
            self.set(unit, state=UnitState.STOPPED, finished_at=self.clock.now(), pid=None,
                      reason=exit_reason(unit.status.exit_code or 0))
            return
        self._signal(unit, signal.SIGTERM)
        unit.stop_deadline = self.clock.now() + max(0.0, grace)
        self.set(unit, state=UnitState.STOPPING)
        if grace <= 0:
            self._kill(unit)

    def remove(self, name: str) -> None:
        unit = self._units.get(name)
        if unit is None:
            return
        if unit.popen is not None and unit.popen.poll() is None:
            self._kill(unit)
            _reap(unit.popen)
        del self._units[name]
        if unit.cgroup is not None:
            self._leftovers += remove_soon([unit.cgroup], timeout=0.2)
        for path in (self._log_path(name), self._log_path(name, previous=True)):
            path.unlink(missing_ok=True)

    def logs(self, name: str, tail: int | None = None, previous: bool = False) -> bytes | None:
        if name not in self._units:
            return None
        path = self._log_path(name, previous)
        return tail_lines(path.read_bytes(), tail) if path.exists() else b""

    def exec(self, name: str, argv: tuple[str, ...], timeout: float = 30.0) -> ExecResult | None:
        unit = self._units.get(name)
        if unit is None or unit.status.state is not UnitState.RUNNING or not argv:
            return None
        if unit.cgroup is not None:
            argv = tuple(unit.cgroup.join_argv(argv))
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  env=self._env(unit.spec), cwd=unit.spec.workdir, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            return ExecResult(124, err.output or b"")
        except OSError as err:
            return ExecResult(127, f"{argv[0]}: {err.strerror}\n".encode())
        return ExecResult(_exit_code(done.returncode), done.stdout)

    def usage(self, name: str) -> Usage | None:
        unit = self._units.get(name)
        if unit is None:
            return None
        if unit.cgroup is not None:
            return unit.cgroup.usage()
        pid = unit.status.pid
        return _proc_usage(pid) if pid is not None else Usage(0.0, 0)

    def close(self) -> None:
        for unit in self._units.values():
            if unit.popen is not None and unit.popen.poll() is None:
                self._kill(unit)
                _reap(unit.popen)
        self._leftovers += [u.cgroup for u in self._units.values() if u.cgroup is not None]
        self._units.clear()
        self._leftovers = remove_soon(self._leftovers)
        if self.cgroups is not None:
            self.cgroups.close()
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    # ---- supervision -----------------------------------------------------------------------------
    def _observe(self, unit: _Unit, now: float) -> None:
        state = unit.status.state
        if state in (UnitState.RUNNING, UnitState.STOPPING) and unit.popen is not None:
            code = unit.popen.poll()
            if code is not None:
                self._exited(unit, _exit_code(code), now)
            elif state is UnitState.STOPPING and now >= (unit.stop_deadline or now) and not unit.killed:
                self._kill(unit)
        elif state is UnitState.WAITING and unit.next_start is not None and now >= unit.next_start:
            self._launch(unit, first=False)

    def _exited(self, unit: _Unit, code: int, now: float) -> None:
        self._signal(unit, signal.SIGKILL)  # leftovers of the process group
        if unit.cgroup is not None:
            unit.cgroup.kill()  # and of the cgroup
        self.ended(unit, code, self._reason(unit, code), now)

    def _launch(self, unit: _Unit, first: bool) -> None:
        spec, now = unit.spec, self.clock.now()
        current = self._log_path(spec.name)
        if not first and current.exists():
            current.replace(self._log_path(spec.name, previous=True))
        env = self._env(spec)
        restarts = unit.status.restarts + (0 if first else 1)
        unit.next_start, unit.stop_deadline, unit.killed = None, None, False
        try:
            argv = self._argv(unit, env)
            with open(current, "ab") as log:
                unit.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT, env=env, cwd=spec.workdir,
                                              start_new_session=True)
        except (OSError, ValueError) as err:
            unit.popen = None
            self.set(unit, state=UnitState.FAILED, restarts=restarts, exit_code=127, started_at=None,
                      finished_at=now, reason="StartError", message=f"cannot start {spec.command[:1]}: {err}")
            return
        self.set(unit, state=UnitState.RUNNING, restarts=restarts, started_at=now, finished_at=None,
                  pid=unit.popen.pid, message="", reason="")

    def _argv(self, unit: _Unit, env: dict[str, str]) -> list[str]:
        """The argv that runs the unit's command, in its cgroup when it has one (made at first)."""
        if self.cgroups is None:
            return list(unit.spec.command)
        _check_program(unit.spec, env)
        if unit.cgroup is None:
            key = self._log_path(unit.spec.name).stem
            unit.cgroup = self.cgroups.unit(key, unit.spec.resources, self.pids_limit)
        unit.oom_base = unit.cgroup.oom_kills()
        unit.cgroup.mark_start()
        return unit.cgroup.join_argv(unit.spec.command)

    @staticmethod
    def _reason(unit: _Unit, code: int) -> str:
        """The kubelet's reason for a run that ended with `code`: OOMKilled when its cgroup counted a kill."""
        if unit.cgroup is not None and unit.cgroup.oom_kills() > unit.oom_base:
            return "OOMKilled"
        return exit_reason(code)

    @staticmethod
    def _env(spec: UnitSpec) -> dict[str, str]:
        return {k: os.environ[k] for k in BASE_ENV if k in os.environ} | dict(spec.env)

    def _signal(self, unit: _Unit, sig: signal.Signals) -> None:
        if unit.popen is None:
            return
        try:
            os.killpg(unit.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _kill(self, unit: _Unit) -> None:
        self._signal(unit, signal.SIGKILL)
        unit.killed = True

    def _log_path(self, name: str, previous: bool = False) -> Path:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        stem = f"{_UNSAFE.sub('_', name)[:80]}-{digest}"
        return self.log_dir / (f"{stem}.prev.log" if previous else f"{stem}.log")


def _exit_code(code: int) -> int:
    """Popen's code (negative for a signal) as a container runtime reports it (128 + signal)."""
    return 128 - code if code < 0 else code


def _check_program(spec: UnitSpec, env: dict[str, str]) -> None:
    """Raise FileNotFoundError unless the unit's program is an executable file (as exec would find it)."""
    program = spec.command[0] if spec.command else ""
    if "/" in program and spec.workdir:
        program = os.path.join(spec.workdir, program)
    if not program or shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise FileNotFoundError(2, "No such file or directory (or not executable)", program)


def _proc_usage(pid: int) -> Usage:
    """CPU seconds and resident memory of process `pid` from /proc (zeros once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return Usage(0.0, 0)
    fields = stat.rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return Usage(ticks / os.sysconf("SC_CLK_TCK"), pages * os.sysconf("SC_PAGE_SIZE"))


def _reap(popen: subprocess.Popen) -> None:
    try:
        popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
