"""`UnitTable`: the bookkeeping the real runtimes share (process, container, vm), so each says only how it
starts, watches and kills its units.

It holds the units by name, answers `status` and `names`, records status changes (`set`) and hands out what
changed since the last `sync()` (`changed`), and decides what an ended run becomes (`ended`): STOPPED when
it was being stopped, WAITING with `CrashLoopBackOff` and a doubling back-off when the restart policy says
so (the count of quick crashes resets after a run of `reset_after` seconds), else SUCCEEDED or FAILED.
`exit_reason` is the kubelet's word for an ended run.  A runtime's unit record needs the fields `spec`,
`status`, `next_start`, `crashes` and `changed`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from berth.runtime.base import UnitState, UnitStatus, backoff_delay
from berth.runtime.clock import Clock


def exit_reason(code: int, oom: bool = False) -> str:
    """The kubelet's reason for a run that ended with `code` (`oom`: the kernel killed it over its limit)."""
    return "OOMKilled" if oom else "Completed" if code == 0 else "Error"


class UnitTable:
    """Units by name and the decisions every real runtime makes alike (see the module docstring)."""

    clock: Clock
    backoff: float
    max_backoff: float
    reset_after: float

    def __init__(self, clock: Clock, backoff: float, max_backoff: float, reset_after: float) -> None:
        self.clock = clock
        self.backoff, self.max_backoff, self.reset_after = backoff, max_backoff, reset_after
        self._units: dict[str, Any] = {}

    def status(self, name: str) -> UnitStatus | None:
        unit = self._units.get(name)
        return unit.status if unit else None

    def names(self) -> list[str]:
        return list(self._units)

    def set(self, unit: Any, **changes) -> None:
        """Change `unit`'s status; the next `changed()` reports it."""
        unit.status = replace(unit.status, **changes)
        unit.changed = True

    def changed(self) -> list[UnitStatus]:
        """The statuses changed since the previous call (the end of every `sync()`)."""
        units = [u for u in self._units.values() if u.changed]
        for unit in units:
            unit.changed = False
        return [u.status for u in units]

    def ended(self, unit: Any, code: int, reason: str, now: float, message: str | None = None) -> None:
        """Record that `unit`'s run ended with `code` (`reason` in the kubelet's words): stopped, waiting out a
        restart back-off, or done for good.  `message`, when given, replaces the status message."""
        extra = {} if message is None else {"message": message}
        if unit.status.state is UnitState.STOPPING:
            self.set(unit, state=UnitState.STOPPED, exit_code=code, finished_at=now, pid=None, reason=reason, **extra)
            return
        if now - (unit.status.started_at or now) >= self.reset_after:
            unit.crashes = 0
        if unit.spec.restart.restarts(code):
            unit.next_start = now + backoff_delay(unit.crashes, self.backoff, self.max_backoff)
            unit.crashes += 1
            self.set(unit, state=UnitState.WAITING, exit_code=code, finished_at=now, pid=None,
                     reason="CrashLoopBackOff", last_reason=reason,
                     message=f"back-off {unit.next_start - now:.0f}s restarting after exit {code} ({reason})")
            return
        final = UnitState.SUCCEEDED if code == 0 else UnitState.FAILED
        self.set(unit, state=final, exit_code=code, finished_at=now, pid=None, reason=reason, **extra)
