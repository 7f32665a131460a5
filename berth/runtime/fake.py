"""The `fake` runtime: units that run instantly and only in memory, for scale tests and the simulator.

No process is started.  A unit is RUNNING from `start()`; it exits when its `exit-after` option
(seconds, runtime clock) has passed, with its `exit-code` option (default 0), and the restart
policy and back-off then apply exactly as in the process runtime.  A stop takes the
`stop-after` option's seconds (default 0): within the grace period the unit ends with its
`stop-exit-code` option (default 143, a SIGTERM), else at the grace period's end with 137 (a
SIGKILL).  A `start-error` option makes `start()` fail at once as a program that does not exist
(FAILED, exit code 127, reason `StartError`, the option's text as message).  Pending timers live in a
heap, so `sync()` costs only the units whose time has come: one Python process can host
thousands of agents, each with its own `FakeRuntime`.  Logs are one synthetic line per run.
Used by the benchmarks, the simulator and tests of the agents.

Deterministic answers where a real runtime would measure or run something:
- reasons as the kubelet's: `Completed` (exit 0) / `Error` (other codes) when terminal or
  stopped, `CrashLoopBackOff` while waiting out a restart back-off, `OOMKilled` for exit code 137
  when the unit has a memory limit (the `exit-code` option can thus simulate an OOM kill);
- `exec` in a RUNNING unit runs nothing: `echo A B` answers `A B\n` with 0, `true` 0, `false` 1,
  any other program 127 with `<program>: not found`;
- `usage` is the unit's CPU request (default 100m, at most its limit) times the seconds it has
  been running in this run, and its memory request (default 16 MiB, at most its limit).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, replace

from berth.runtime.base import ExecResult, UnitSpec, UnitState, UnitStatus, Usage, backoff_delay, tail_lines
from berth.runtime.clock import Clock, SystemClock


DEFAULT_CPU_MILLIS = 100
DEFAULT_MEMORY_BYTES = 16 * 2**20
_EXEC = {"true": (0, None), "false": (1, None), "echo": (0, "echo")}
"""Programs `exec` knows: exit code and what it prints (None: nothing; 'echo': its arguments)."""


@dataclass
class _Unit:
    spec: UnitSpec
    status: UnitStatus
    crashes: int = 0
    generation: int = 0
    """Bumped at every transition so stale timers in the heap are ignored."""
    previous_log: bytes = b""


class FakeRuntime:
    """Simulated units with timers on the runtime clock."""

    name = "fake"

    def __init__(self, clock: Clock | None = None, *, backoff: float = 1.0, max_backoff: float = 30.0) -> None:
        self.clock = clock or SystemClock()
        self.backoff, self.max_backoff = backoff, max_backoff
        self._units: dict[str, _Unit] = {}
        self._timers: list[tuple[float, int, str, int, str]] = []
        self._seq = itertools.count()
        self._changed: set[str] = set()

    def start(self, spec: UnitSpec) -> UnitStatus:
        if spec.name in self._units:
            raise ValueError(f"unit {spec.name!r} already exists")
        _float(spec, "exit-after"), _float(spec, "stop-after"), _int(spec, "exit-code"), _int(spec, "stop-exit-code")
        unit = self._units[spec.name] = _Unit(spec, UnitStatus(spec.name, UnitState.WAITING))
        if "start-error" in spec.options:
            self._set(unit, state=UnitState.FAILED, exit_code=127, finished_at=self.clock.now(), reason="StartError",
                      message=spec.options["start-error"] or "cannot start")
        else:
            self._run(unit, restarts=0)
        return unit.status

    def sync(self) -> list[UnitStatus]:
        if not self._changed and not self._timers:
            return []
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            when, _, name, generation, what = heapq.heappop(self._timers)
            unit = self._units.get(name)
            if unit is not None and unit.generation == generation:
                self._fire(unit, what, when)
        out = [self._units[n].status for n in self._changed if n in self._units]
        self._changed.clear()
        return out

    def stop(self, name: str, grace: float) -> None:
        unit = self._units.get(name)
        if unit is None or unit.status.state.terminal or unit.status.state is UnitState.STOPPING:
            return
        if unit.status.state is UnitState.WAITING:
            self._set(unit, state=UnitState.STOPPED, finished_at=self.clock.now(),
                      reason=_reason(unit, unit.status.exit_code or 0))
            return
        takes, grace = _float(unit.spec, "stop-after") or 0.0, max(0.0, grace)
        self._set(unit, state=UnitState.STOPPING)
        self._timer(unit, min(takes, grace), "stopped" if takes <= grace else "killed")

    def remove(self, name: str) -> None:
        self._units.pop(name, None)
        self._changed.discard(name)

    def status(self, name: str) -> UnitStatus | None:
        unit = self._units.get(name)
        return unit.status if unit else None

    def names(self) -> list[str]:
        return list(self._units)

    def logs(self, name: str, tail: int | None = None, previous: bool = False) -> bytes | None:
        unit = self._units.get(name)
        if unit is None:
            return None
        if previous:
            return tail_lines(unit.previous_log, tail)
        line = f"fake unit {name} run {unit.status.restarts} started at {unit.status.started_at}\n"
        return tail_lines(line.encode(), tail)

    def exec(self, name: str, argv: tuple[str, ...], timeout: float = 30.0) -> ExecResult | None:
        unit = self._units.get(name)
        if unit is None or unit.status.state is not UnitState.RUNNING or not argv:
            return None
        code, output = _EXEC.get(argv[0], (127, None))
        if output == "echo":
            return ExecResult(code, (" ".join(argv[1:]) + "\n").encode())
        return ExecResult(code, f"{argv[0]}: not found\n".encode() if code == 127 else b"")

    def usage(self, name: str) -> Usage | None:
        unit = self._units.get(name)
        if unit is None:
            return None
        res, status = unit.spec.resources, unit.status
        millis = min(res.cpu_request_millis or DEFAULT_CPU_MILLIS, res.cpu_limit_millis or 1 << 62)
        ran = (status.finished_at or self.clock.now()) - status.started_at if status.started_at is not None else 0.0
        memory = min(res.memory_request_bytes or DEFAULT_MEMORY_BYTES, res.memory_limit_bytes or 1 << 62)
        return Usage(cpu_seconds=max(0.0, ran) * millis / 1000, memory_bytes=memory)

    def close(self) -> None:
        self._units.clear()
        self._timers.clear()
        self._changed.clear()

    # ---- timers --------------------------------------------------------------------------------
    def _run(self, unit: _Unit, restarts: int) -> None:
        self._set(unit, state=UnitState.RUNNING, restarts=restarts, started_at=self.clock.now(),
                  finished_at=None, message="", reason="")
        after = _float(unit.spec, "exit-after")
        if after is not None:
            self._timer(unit, after, "exit")

    def _fire(self, unit: _Unit, what: str, when: float) -> None:
        if what in ("stopped", "killed"):
            code = 137 if what == "killed" else _int(unit.spec, "stop-exit-code")
            code = 143 if code is None else code
            self._set(unit, state=UnitState.STOPPED, exit_code=code, finished_at=when,
                      reason="Completed" if code == 0 else "Error")
        elif what == "restart":
            unit.previous_log = self.logs(unit.spec.name) or b""
            self._run(unit, unit.status.restarts + 1)
        else:
            self._exited(unit, _int(unit.spec, "exit-code") or 0, when)

    def _exited(self, unit: _Unit, code: int, when: float) -> None:
        if unit.spec.restart.restarts(code):
            delay = backoff_delay(unit.crashes, self.backoff, self.max_backoff)
            unit.crashes += 1
            self._set(unit, state=UnitState.WAITING, exit_code=code, finished_at=when, reason="CrashLoopBackOff",
                      last_reason=_reason(unit, code), message=f"back-off {delay:.0f}s restarting after exit {code} ({_reason(unit, code)})")
            self._timer(unit, delay, "restart")
            return
        final = UnitState.SUCCEEDED if code == 0 else UnitState.FAILED
        self._set(unit, state=final, exit_code=code, finished_at=when, reason=_reason(unit, code))

    def _timer(self, unit: _Unit, delay: float, what: str) -> None:
        heapq.heappush(self._timers, (self.clock.now() + delay, next(self._seq), unit.spec.name,
                                      unit.generation, what))

    def _set(self, unit: _Unit, **changes) -> None:
        unit.generation += 1
        unit.status = replace(unit.status, **changes)
        self._changed.add(unit.spec.name)


def _reason(unit: _Unit, code: int) -> str:
    """The kubelet's reason for a run that ended with `code`."""
    if code == 137 and unit.spec.resources.memory_limit_bytes is not None:
        return "OOMKilled"
    return "Completed" if code == 0 else "Error"


def _float(spec: UnitSpec, key: str) -> float | None:
    raw = spec.options.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"unit {spec.name!r}: option {key}={raw!r} is not a number") from None
    if value < 0:
        raise ValueError(f"unit {spec.name!r}: option {key} must not be negative")
    return value


def _int(spec: UnitSpec, key: str) -> int | None:
    raw = spec.options.get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"unit {spec.name!r}: option {key}={raw!r} is not an integer") from None
