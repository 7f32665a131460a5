"""`Connections`: one server's open connections in one process, counted in all and per client address,
with those still waiting for a complete request head kept oldest first.

When a count is full, `admit` evicts the oldest waiting connection (of the same client, for the per-client
count): half-open, slowloris and mid-handshake connections give way to a new one, and a connection whose
head is complete (a request in progress, a long watch) is never evicted.  A new connection is refused only
when no connection can be evicted.  A timer closes waiting connections older than `Limits.head_timeout`.
Owned by the connection guard (`berth.web.guard`), one per served app and process.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from berth.web.limits import Limits

SWEEP_MAX = 1.0
"""Most seconds between two looks for connections past their head timeout."""


class Tracked(Protocol):
    """A connection as the registry sees it: its client address and a way to drop it at once."""

    client: str

    def evict(self) -> None:
        """Close the connection now, without answering (it has been released from the registry)."""


class Connections:
    """Counts and the oldest-first queue of connections waiting for a request head (see the module)."""

    __slots__ = ("limits", "loop", "open", "per_client", "waiting", "_timer", "_every")

    def __init__(self, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits, self.loop = limits, loop
        self.open: set[Tracked] = set()
        self.per_client: dict[str, int] = {}
        self.waiting: dict[Tracked, float] = {}
        """Connections without a complete request head, and since when; insertion order is age order."""
        self._timer: asyncio.TimerHandle | None = None
        self._every = min(SWEEP_MAX, max(0.01, limits.head_timeout / 4))

    def admit(self, conn: Tracked) -> bool:
        """Count `conn` in, evicting a waiting connection when a count is full; False when it must be refused."""
        if len(self.open) >= self.limits.max_connections and not self._evict(None):
            return False
        per = self.per_client.get(conn.client, 0)
        if per >= self.limits.max_connections_per_client:
            if not self._evict(conn.client):
                return False
            per -= 1
        self.open.add(conn)
        self.per_client[conn.client] = per + 1
        self.waiting[conn] = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(self._every, self._sweep)
        return True

    def head_started(self, conn: Tracked) -> None:
        """`conn` (kept alive) began its next request: it waits for a head again, from now."""
        if conn in self.open:
            self.waiting[conn] = self.loop.time()

    def head_done(self, conn: Tracked) -> None:
        """`conn`'s request head is complete: it can no longer be evicted or timed out."""
        self.waiting.pop(conn, None)

    def release(self, conn: Tracked) -> None:
        """Count `conn` out (closed, evicted or timed out); calling it again does nothing."""
        if conn not in self.open:
            return
        self.open.discard(conn)
        self.waiting.pop(conn, None)
        left = self.per_client[conn.client] - 1
        if left:
            self.per_client[conn.client] = left
        else:
            del self.per_client[conn.client]

    def _evict(self, client: str | None) -> bool:
        for conn in self.waiting:
            if client is None or conn.client == client:
                self.release(conn)
                conn.evict()
                return True
        return False

    def _sweep(self) -> None:
        cutoff = self.loop.time() - self.limits.head_timeout
        expired = []
        for conn, since in self.waiting.items():
            if since > cutoff:
                break
            expired.append(conn)
        for conn in expired:
            self.release(conn)
            conn.evict()
        self._timer = self.loop.call_later(self._every, self._sweep) if self.open else None
