"""`WorkQueue`: keys waiting to be reconciled, de-duplicated, with rate-limited retries on a clock.

A key added while queued is not queued twice; a key added while being processed is queued again
once `done(key)` is called, so one key is never processed by two workers at once.
`add_after(key, delay)` and `retry(key)` (per-key exponential back-off from `base` to `cap`
seconds) park keys until the clock reaches their time; `forget(key)` resets the back-off after
a success.  `get(timeout)` blocks (in real time) for the next ready key.  The controllers'
workers use it; tests drive it with a `ManualClock` and `get(timeout=0)`.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque

from berth.runtime.clock import Clock, SystemClock


class WorkQueue:
    """A de-duplicating FIFO of keys with delayed adds."""

    def __init__(self, clock: Clock | None = None, *, base: float = 0.005, cap: float = 60.0) -> None:
        self.clock = clock or SystemClock()
        self.base, self.cap = base, cap
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._later: list[tuple[float, str]] = []
        self._failures: dict[str, int] = {}
        self._cond = threading.Condition()
        self._closed = False

    def add(self, key: str) -> None:
        with self._cond:
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            heapq.heappush(self._later, (self.clock.now() + delay, key))
            self._cond.notify()

    def retry(self, key: str) -> float:
        """Re-add `key` after its next back-off; returns the delay chosen."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = min(self.cap, self.base * 2 ** min(failures, 30))
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> str | None:
        """The next ready key (marked processing), or None after `timeout` real seconds or on close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote()
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._closed or (remaining is not None and remaining <= 0):
                    return None
                wait = 0.05 if self._later else remaining
                self._cond.wait(wait if remaining is None else min(wait, remaining))

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self._queued.add(key)
                self._queue.append(key)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._later)

    def _promote(self) -> None:
        now = self.clock.now()
        while self._later and self._later[0][0] <= now:
            _, key = heapq.heappop(self._later)
            if key in self._processing:
                self._dirty.add(key)
            elif key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)
