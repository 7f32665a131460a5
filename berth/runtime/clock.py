"""Clocks: the one notion of time runtimes, controllers and agents take as a parameter.

`SystemClock` reads the wall clock (seconds since the epoch, as a float); `ManualClock` is a
virtual clock that moves only when a test or the simulator calls `advance`, so timelines
(grace periods, restart back-off, lease expiry) can be unit-tested without sleeping.  Runtimes
and the control planes' reconcilers call `now()`; nothing here sleeps.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of the current time in seconds.  `now()` never goes backwards."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock (`time.time()`)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A virtual clock starting at `start`; only `advance` and `set` move it."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by `seconds` (must not be negative); returns the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        """Jump to `when`, which must not be earlier than now."""
        self.advance(when - self._now)
