"""The scheduling queue: active, backoff and unschedulable sub-queues, as in kube-scheduler.

`add` puts a pending pod in the active heap (higher priority first, then arrival order).  `pop`
hands the next pod to a scheduling cycle and stamps it with the cycle number.  A pod that did not
fit goes to `unschedulable` (`requeue(key, cycle, unschedulable=True)`) unless a cluster event
arrived since its cycle began, in which case it goes to `backoff` straight away; an error goes to
`backoff`.  Back-off doubles per attempt from `initial` to `maximum` seconds (upstream: 1 and 10).
`move_all(reason)` (a node appeared or changed, a pod went away) moves every unschedulable pod to
`backoff` (or `active` if its back-off is over); `flush` also retries pods parked longer than
`max_unschedulable` seconds (upstream: 5 minutes).  Times come from the clock; `pop(timeout)`
waits in real time.  Only the scheduler uses it; tests drive it on a `ManualClock`.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass

from berth.runtime.clock import Clock, SystemClock

ACTIVE, BACKOFF, UNSCHEDULABLE, IN_FLIGHT = "active", "backoff", "unschedulable", "in-flight"


@dataclass
class _Entry:
    priority: int
    where: str = ""
    seq: int = 0
    attempts: int = 0
    since: float = 0.0
    backoff_until: float = 0.0


class SchedulingQueue:
    """Pending pods by key (`namespace/name`)."""

    def __init__(self, clock: Clock | None = None, *, initial: float = 1.0, maximum: float = 10.0,
                 max_unschedulable: float = 300.0) -> None:
        self.clock = clock or SystemClock()
        self.initial, self.maximum, self.max_unschedulable = initial, maximum, max_unschedulable
        self._entries: dict[str, _Entry] = {}
        self._active: list[tuple[int, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._cycle = 0
        self._moved_at = -1
        self._cond = threading.Condition()
        self._closed = False

    # ---- arrivals and departures ---------------------------------------------------------------
    def add(self, key: str, priority: int = 0) -> None:
        """A new pending pod (or a known one updated: it gets another chance if parked)."""
        with self._cond:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(priority, since=self.clock.now())
                self._to_active(key, entry)
            elif entry.where == UNSCHEDULABLE:
                entry.priority = priority
                self._to_backoff_or_active(key, entry)

    def delete(self, key: str) -> None:
        """The pod is gone or bound by someone else: forget it wherever it is."""
        with self._cond:
            self._entries.pop(key, None)

    def __contains__(self, key: str) -> bool:
        with self._cond:
            return key in self._entries

    def counts(self) -> dict[str, int]:
        with self._cond:
            out = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, IN_FLIGHT: 0}
            for entry in self._entries.values():
                out[entry.where] += 1
            return out

    # ---- scheduling cycles ------------------------------------------------------------------------
    def pop(self, timeout: float | None = None) -> tuple[str, int] | None:
        """(key, cycle) of the next pod to schedule, or None after `timeout` real seconds / on close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_backoff()
                while self._active:
                    _, seq, key = heapq.heappop(self._active)
                    entry = self._entries.get(key)
                    if entry is not None and entry.where == ACTIVE and entry.seq == seq:
                        self._cycle += 1
                        entry.where, entry.attempts = IN_FLIGHT, entry.attempts + 1
                        return key, self._cycle
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._closed or (remaining is not None and remaining <= 0):
                    return None
                wait = 0.05 if self._backoff else remaining
                self._cond.wait(wait if remaining is None else min(wait, remaining))

    def done(self, key: str) -> None:
        """The pod was bound (or will never be scheduled by us): drop it."""
        self.delete(key)

    def requeue(self, key: str, cycle: int, unschedulable: bool) -> None:
        """Return a pod after a failed cycle: parked if it did not fit, in back-off after an error."""
        with self._cond:
            entry = self._entries.get(key)
            if entry is None or entry.where != IN_FLIGHT:
                return
            entry.backoff_until = self.clock.now() + self._backoff_for(entry.attempts)
            if unschedulable and self._moved_at < cycle:
                entry.where, entry.since = UNSCHEDULABLE, self.clock.now()
            else:
                self._to_backoff_or_active(key, entry)

    def move_all(self) -> int:
        """A cluster event may have made parked pods schedulable: retry them all.  Returns how many moved."""
        with self._cond:
            self._moved_at = self._cycle
            parked = [(k, e) for k, e in self._entries.items() if e.where == UNSCHEDULABLE]
            for key, entry in parked:
                self._to_backoff_or_active(key, entry)
            return len(parked)

    def flush(self) -> int:
        """Retry pods parked longer than `max_unschedulable`; returns how many moved."""
        with self._cond:
            limit = self.clock.now() - self.max_unschedulable
            stale = [(k, e) for k, e in self._entries.items() if e.where == UNSCHEDULABLE and e.since <= limit]
            for key, entry in stale:
                self._to_backoff_or_active(key, entry)
            return len(stale)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- internals ----------------------------------------------------------------------------------
    def _backoff_for(self, attempts: int) -> float:
        return min(self.maximum, self.initial * 2 ** max(0, min(attempts - 1, 30)))

    def _to_active(self, key: str, entry: _Entry) -> None:
        entry.where, entry.seq = ACTIVE, next(self._seq)
        heapq.heappush(self._active, (-entry.priority, entry.seq, key))
        self._cond.notify()

    def _to_backoff_or_active(self, key: str, entry: _Entry) -> None:
        if entry.backoff_until <= self.clock.now():
            self._to_active(key, entry)
            return
        entry.where, entry.seq = BACKOFF, next(self._seq)
        heapq.heappush(self._backoff, (entry.backoff_until, entry.seq, key))
        self._cond.notify()

    def _promote_backoff(self) -> None:
        now = self.clock.now()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            entry = self._entries.get(key)
            if entry is not None and entry.where == BACKOFF and entry.seq == seq:
                self._to_active(key, entry)
