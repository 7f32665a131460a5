"""The versioned store's contract: records, events, outcomes and the `Store` Protocol.

Every backend (in-memory, SQLite) fills this one interface; the declarative API server is its caller.
Values are opaque bytes; the store owns one global revision that every write advances by exactly one,
and each record carries the revision that created it and the revision that last modified it (the API's
resourceVersion). Expected outcomes -- the key exists, is missing, or was modified since the caller read
it -- come back as `Outcome` values, never as exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

PUT = "put"
DELETE = "delete"

# Outcome reasons (empty string on success).
EXISTS = "exists"
NOT_FOUND = "not_found"
CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class Record:
    """One key's value at one revision."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """A change: `kind` is PUT or DELETE; for a DELETE, `record` holds the last value with the deleting revision.

    `prev` is the record before the change (None for a create). `cache` is scratch space callers may use to
    memoise an encoding of the event shared by many watchers; the store never reads it.
    """

    kind: str
    record: Record
    prev: Record | None
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def revision(self) -> int:
        return self.record.mod_revision


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of a write: `ok`, the new record (or the current one when a CAS failed), and a reason."""

    ok: bool
    record: Record | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Listing:
    """A page of records sorted by key, the store revision it was read at, and whether more keys follow."""

    records: list[Record]
    revision: int
    more: bool = False


@dataclass(frozen=True, slots=True)
class TooOld:
    """A watch asked for history that compaction already removed: `requested` < `compacted`."""

    requested: int
    compacted: int


@dataclass(slots=True)
class Watching:
    """A live subscription; `cancel()` stops delivery (idempotent)."""

    cancel: Callable[[], None]


Sink = Callable[[Event], None]


class StoreInUse(OSError):
    """The store's file is already open for writing in another process; the message names the file."""


class Store(Protocol):
    """A durable, versioned key-value store with a global revision, CAS and watch-from-revision.

    Contract:
    - Each successful write advances `revision` by one and is durable (survives the process being killed)
      before the call returns -- or, for a backend opened with group commit, once `flush()` returns; its
      `dirty` attribute is then True while writes are pending, and callers must flush before they
      acknowledge a write or reveal it. A flush that fails commits none of its writes and undoes them in
      memory too: reads no longer see them and no watcher was ever sent them.
    - `create` fails with EXISTS, `update`/`delete` fail with NOT_FOUND, or with CONFLICT when `expect` is
      non-zero and differs from the key's current mod_revision. A failed write changes nothing.
    - `watch(prefix, since, sink)` first delivers, in revision order, every retained event with revision >
      `since` for keys under `prefix`, then every later one as it commits. The sink runs in the writer's
      thread while the store's lock is held: it must be quick and must not write to the store.
      When `since` is older than the compacted revision it returns `TooOld` and subscribes nothing.
    - `compact(revision)` forgets history at or below `revision`; current values are kept. Backends also
      compact on their own once the retained history passes a bound in events or in bytes.
    - A durable backend lets one process at a time open its file for writing: another opener gets
      `StoreInUse`.
    """

    @property
    def revision(self) -> int: ...

    @property
    def compacted(self) -> int: ...

    def get(self, key: str) -> Record | None: ...

    def list(self, prefix: str, *, after: str = "", limit: int = 0) -> Listing: ...

    def count(self, prefix: str) -> int: ...

    def create(self, key: str, value: bytes) -> Outcome: ...

    def update(self, key: str, value: bytes, *, expect: int = 0) -> Outcome: ...

    def delete(self, key: str, *, expect: int = 0) -> Outcome: ...

    def watch(self, prefix: str, since: int, sink: Sink) -> Watching | TooOld: ...

    def compact(self, revision: int) -> None: ...

    def flush(self) -> None:
        """Make every write so far durable; backends that commit each write at once do nothing here."""

    def close(self) -> None: ...
