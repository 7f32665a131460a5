"""The in-memory store: current values in per-prefix dictionaries plus a dense window of recent events.

Used directly by the simulator and unit tests, and as the in-memory half of `SqliteStore` (which persists
each write through the `_persist` hook before it becomes visible). Revisions are dense -- every write is
exactly one event -- so the event with revision r sits at `history[r - compacted - 1]`.
"""

from __future__ import annotations

import threading

from berth.store.interface import (
    CONFLICT, DELETE, EXISTS, NOT_FOUND, PUT, Event, Listing, Outcome, Record, Sink, TooOld, Watching,
)


def bucket_of(key: str) -> str:
    """The index bucket of a key or prefix: its first path segment ('/pods/a/b' -> '/pods/')."""
    cut = key.find("/", 1)
    return key[: cut + 1] if cut > 0 else ""


class MemoryStore:
    """A `Store` held in memory; `retain` bounds the event window kept for watches (older ones are compacted)."""

    def __init__(self, *, retain: int = 100_000) -> None:
        self._lock = threading.RLock()
        self._buckets: dict[str, dict[str, Record]] = {}
        self._history: list[Event] = []
        self._watchers: list[tuple[str, Sink]] = []
        self._revision = 0
        self._compacted = 0
        self._retain = retain

    # -- reads -------------------------------------------------------------------------------------
    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted(self) -> int:
        return self._compacted

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
        self._persist(event)
        self._apply(event)
        self._publish(event)
        return Outcome(True, event.record)

    def _persist(self, event: Event) -> None:
        """Make `event` durable before it is applied; the in-memory store keeps nothing beyond the process."""

    def _apply(self, event: Event, *, remember: bool = True) -> None:
        rec = event.record
        records = self._buckets.setdefault(bucket_of(rec.key), {})
        if event.kind == DELETE:
            records.pop(rec.key, None)
        else:
            records[rec.key] = rec
        self._revision = rec.mod_revision
        if remember:
            self._history.append(event)
            if len(self._history) > self._retain + self._retain // 4:
                self.compact(self._revision - self._retain)

    def _publish(self, event: Event) -> None:
        key = event.record.key
        for prefix, sink in self._watchers:
            if key.startswith(prefix):
                sink(event)

    # -- watch and compaction ----------------------------------------------------------------------
    def watch(self, prefix: str, since: int, sink: Sink) -> Watching | TooOld:
        with self._lock:
            if since < self._compacted:
                return TooOld(since, self._compacted)
            for event in self._history[max(0, since - self._compacted):]:
                if event.record.key.startswith(prefix):
                    sink(event)
            entry = (prefix, sink)
            self._watchers.append(entry)
        return Watching(lambda: self._unwatch(entry))

    def _unwatch(self, entry) -> None:
        with self._lock:
            if entry in self._watchers:
                self._watchers.remove(entry)

    def compact(self, revision: int) -> None:
        with self._lock:
            revision = min(revision, self._revision)
            if revision <= self._compacted:
                return
            self._history = self._history[revision - self._compacted:]
            self._compacted = revision
            self._persist_compaction(revision)

    def _persist_compaction(self, revision: int) -> None:
        """Drop durable history at or below `revision`; nothing to do in memory."""

    dirty = False

    def flush(self) -> None:
        """Nothing to make durable in memory."""

    def close(self) -> None:
        with self._lock:
            self._watchers.clear()
