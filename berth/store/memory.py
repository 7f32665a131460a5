"""The in-memory store: current values in per-prefix dictionaries plus a dense window of recent events.

Used directly by the simulator and unit tests, and as the in-memory half of `SqliteStore` (which persists
each write through the `_persist` hook). Revisions are dense -- every write is exactly one event -- so the
event with revision r sits at `history[r - compacted - 1]`.

The window is bounded twice: by events (`retain`) and by bytes (`retain_bytes`: each event's key and value,
the encodings watchers cached on it while it was delivered, and `EVENT_OVERHEAD` for its objects). Past
1.25 times either bound the oldest events are compacted away down to it; a watch from a compacted revision
gets `TooOld`. A compaction that frees `TRIM_BYTES` or more asks the C allocator to hand the freed heap back
(glibc's malloc_trim): without that, freed objects of a megabyte stay in the process's memory for good.

A backend that commits in groups marks the store `dirty` in `_persist`: its write changes the current values
at once (the same turn's later writes and reads see it) but is held in `_pending`, and enters the history and
reaches watchers only in `_settle`, after the commit. If the commit fails, `_undo` puts the current values
back as they were at the last commit, so a failed commit leaves no trace.
"""

from __future__ import annotations

import bisect
import ctypes
import threading

from berth.store.interface import (
    CONFLICT, DELETE, EXISTS, NOT_FOUND, PUT, Event, Listing, Outcome, Record, Sink, TooOld, Watching,
)

EVENT_OVERHEAD = 400  # bytes of Python objects per retained event: Event, Record, key string, cache dict
TRIM_BYTES = 8 << 20


def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to call
        return None


MALLOC_TRIM = _malloc_trim()


def bucket_of(key: str) -> str:
    """The index bucket of a key or prefix: its first path segment ('/pods/a/b' -> '/pods/')."""
    cut = key.find("/", 1)
    return key[: cut + 1] if cut > 0 else ""


def event_cost(event: Event) -> int:
    """The bytes one retained event holds: key, value, the encodings cached on it, and its objects."""
    cached = sum(len(v) for v in event.cache.values() if type(v) is bytes)
    return len(event.record.key) + len(event.record.value) + cached + EVENT_OVERHEAD


class MemoryStore:
    """A `Store` held in memory; `retain` and `retain_bytes` bound the event window kept for watches."""

    dirty = False

    def __init__(self, *, retain: int = 100_000, retain_bytes: int = 64 << 20) -> None:
        self._lock = threading.RLock()
        self._buckets: dict[str, dict[str, Record]] = {}
        self._history: list[Event] = []
        self._sizes: list[int] = []  # running total of event_cost over the history, aligned with it
        self._dropped = 0  # that running total just before the first retained event
        self._pending: list[Event] = []  # applied to the current values, not yet committed
        self._watchers: list[list] = []  # [prefix, sink, since]: events at or below `since` are not sent
        self._revision = 0
        self._compacted = 0
        self._retain = retain
        self._retain_bytes = retain_bytes

    # -- reads -------------------------------------------------------------------------------------
    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted(self) -> int:
        return self._compacted

    @property
    def history_bytes(self) -> int:
        """What the retained events hold, as `retain_bytes` counts it."""
        return self._sizes[-1] - self._dropped if self._sizes else 0

    def get(self, key: str) -> Record | None:
        return self._buckets.get(bucket_of(key), {}).get(key)

    def list(self, prefix: str, *, after: str = "", limit: int = 0) -> Listing:
        with self._lock:
            keys = sorted(k for k in self._scan(prefix) if k > after)
            revision = self._revision
            more = bool(limit) and len(keys) > limit
            if more:
                keys = keys[:limit]
            return Listing([self.get(k) for k in keys], revision, more)

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for _ in self._scan(prefix))

    def _scan(self, prefix: str):
        b = bucket_of(prefix)
        buckets = [self._buckets.get(b, {})] if b else list(self._buckets.values())
        for records in buckets:
            for key in records:
                if key.startswith(prefix):
                    yield key

    # -- writes ------------------------------------------------------------------------------------
    def create(self, key: str, value: bytes) -> Outcome:
        with self._lock:
            current = self.get(key)
            if current is not None:
                return Outcome(False, current, EXISTS)
            rev = self._revision + 1
            return self._commit(Event(PUT, Record(key, value, rev, rev), None))

    def update(self, key: str, value: bytes, *, expect: int = 0) -> Outcome:
        with self._lock:
            current = self.get(key)
            if current is None:
                return Outcome(False, None, NOT_FOUND)
            if expect and current.mod_revision != expect:
                return Outcome(False, current, CONFLICT)
            rec = Record(key, value, current.create_revision, self._revision + 1)
            return self._commit(Event(PUT, rec, current))

    def delete(self, key: str, *, expect: int = 0) -> Outcome:
        with self._lock:
            current = self.get(key)
            if current is None:
                return Outcome(False, None, NOT_FOUND)
            if expect and current.mod_revision != expect:
                return Outcome(False, current, CONFLICT)
            rec = Record(key, current.value, current.create_revision, self._revision + 1)
            return self._commit(Event(DELETE, rec, current))

    def _commit(self, event: Event) -> Outcome:
        self._persist(event)  # raises (changing nothing) when a write that commits at once fails
        self._apply(event)
        if self.dirty:
            self._pending.append(event)
        else:
            self._settle((event,))
        return Outcome(True, event.record)

    def _persist(self, event: Event) -> None:
        """Make `event` durable, or queue it and set `dirty`; the in-memory store keeps nothing beyond the process."""

    def _apply(self, event: Event) -> None:
        rec = event.record
        records = self._buckets.setdefault(bucket_of(rec.key), {})
        if event.kind == DELETE:
            records.pop(rec.key, None)
        else:
            records[rec.key] = rec
        self._revision = rec.mod_revision

    def _settle(self, events) -> None:
        """Committed events: to the watchers, then into the history; compacts past either bound."""
        for event in events:
            self._publish(event)
            self._remember(event)
        self._trim()

    def _remember(self, event: Event) -> None:
        self._history.append(event)
        self._sizes.append((self._sizes[-1] if self._sizes else self._dropped) + event_cost(event))

    def _undo(self, events: list[Event]) -> None:
        """Put the current values back as they were before `events` (uncommitted, newest last)."""
        for event in reversed(events):
            rec, prev = event.record, event.prev
            records = self._buckets.setdefault(bucket_of(rec.key), {})
            if prev is None:
                records.pop(rec.key, None)
            else:
                records[rec.key] = prev
        if events:
            self._revision = events[0].revision - 1  # the next write reuses the revisions nobody saw
            for entry in self._watchers:
                entry[2] = min(entry[2], self._revision)

    def _publish(self, event: Event) -> None:
        key, revision = event.record.key, event.record.mod_revision
        for prefix, sink, since in self._watchers:
            if revision > since and key.startswith(prefix):
                sink(event)

    # -- watch and compaction ----------------------------------------------------------------------
    def watch(self, prefix: str, since: int, sink: Sink) -> Watching | TooOld:
        with self._lock:
            if since < self._compacted:
                return TooOld(since, self._compacted)
            for event in self._history[max(0, since - self._compacted):]:
                if event.record.key.startswith(prefix):
                    sink(event)
            entry = [prefix, sink, since]
            self._watchers.append(entry)
        return Watching(lambda: self._unwatch(entry))

    def _unwatch(self, entry) -> None:
        with self._lock:
            self._watchers = [e for e in self._watchers if e is not entry]

    def _trim(self) -> None:
        """Compact the oldest events once the window passes 1.25 times a bound, down to that bound."""
        count, size = len(self._history), self.history_bytes
        if count <= self._retain + self._retain // 4 and size <= self._retain_bytes + self._retain_bytes // 4:
            return
        drop = max(0, count - self._retain)
        if size > self._retain_bytes:  # the fewest oldest events whose removal leaves at most retain_bytes
            drop = max(drop, bisect.bisect_left(self._sizes, self._sizes[-1] - self._retain_bytes) + 1)
        self.compact(self._compacted + drop)

    def compact(self, revision: int) -> None:
        with self._lock:
            self.flush()
            revision = min(revision, self._compacted + len(self._history))
            if revision <= self._compacted:
                return
            drop = revision - self._compacted
            freed, self._dropped = self._sizes[drop - 1] - self._dropped, self._sizes[drop - 1]
            dropped = self._history[:drop]
            del self._history[:drop], self._sizes[:drop]
            self._compacted = revision
            self._persist_compaction(revision, dropped)
        if freed >= TRIM_BYTES and MALLOC_TRIM is not None:
            MALLOC_TRIM(0)

    def _persist_compaction(self, revision: int, dropped: list[Event]) -> None:
        """Drop durable history at or below `revision` (`dropped`: the events just compacted, oldest first);
        nothing to do in memory."""

    def flush(self) -> None:
        """Nothing to make durable in memory."""

    def close(self) -> None:
        with self._lock:
            self._watchers.clear()
