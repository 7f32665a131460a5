"""The embedded default backend: SQLite in WAL mode under the in-memory store.

The database is a single append-only log table, one row per revision (kine-style): a put or a delete of a
key, with its create revision and its value. Every write inserts its row and commits before the in-memory
state changes and before the caller is answered, so an acknowledged write survives `kill -9` of the process
(WAL with synchronous=NORMAL survives process death; `sync="full"` also fsyncs each commit for power loss).
On open, the log is replayed into memory; rows above the compacted revision also rebuild the watch window.
Compaction deletes superseded rows and tombstones at or below the compacted revision. The rows it keeps
(each key's value as of that revision) are known from memory -- the current records and the first later
event of each key -- so the log needs no index beyond its revision key: every write updates one B-tree,
not two (about half of SQLite's cost per write).

With `group_commit=True` a write only queues its row and marks the store `dirty`; the caller must call
`flush()` (one transaction inserting every queued row, then COMMIT) before it acknowledges any of those
writes or shows them to anyone. The API server does this once per event-loop turn, so concurrent requests
share one commit.

WAL checkpoints (copying the log back into the database file, with an fsync) run in a background thread on
their own connection every `checkpoint_seconds`, so writers never stall behind one.
"""

from __future__ import annotations

import sqlite3
import threading

from berth.store.interface import DELETE, PUT, Event, Record
from berth.store.memory import MemoryStore

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,"
    " create_rev INTEGER NOT NULL, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
INSERT = "INSERT INTO log (rev, key, deleted, create_rev, value) VALUES (?, ?, ?, ?, ?)"

SYNC_MODES = {"normal": "NORMAL", "full": "FULL"}


class SqliteStore(MemoryStore):
    """A `Store` persisted in one SQLite file; `path` may be ':memory:' for throwaway tests."""

    def __init__(self, path: str, *, retain: int = 100_000, sync: str = "normal", group_commit: bool = False,
                 checkpoint_seconds: float = 1.0) -> None:
        super().__init__(retain=retain)
        self.path = path
        self.group_commit = group_commit
        self.dirty = False
        self._rows: list[tuple] = []
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={SYNC_MODES[sync]}")
        for statement in SCHEMA:
            self._db.execute(statement)
        self._load()
        self._stop = threading.Event()
        self._checkpointer = None
        if path != ":memory:" and checkpoint_seconds > 0:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(checkpoint_seconds,),
                                                  name="sqlite-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoint_loop(self, every: float) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(every):
                db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the store is closing; the next open checkpoints what is left
        finally:
            db.close()

    def _load(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'compacted'").fetchone()
        compacted = row[0] if row else 0
        self._compacted = compacted
        self._revision = compacted
        current: dict[str, Record] = {}
        cursor = self._db.execute("SELECT rev, key, deleted, create_rev, value FROM log ORDER BY rev")
        for rev, key, deleted, create_rev, value in cursor:
            rec = Record(key, bytes(value), create_rev, rev)
            event = Event(DELETE if deleted else PUT, rec, current.get(key))
            if deleted:
                current.pop(key, None)
            else:
                current[key] = rec
            self._apply(event, remember=rev > compacted)

    def _persist(self, event: Event) -> None:
        rec = event.record
        row = (rec.mod_revision, rec.key, int(event.kind == DELETE), rec.create_revision, rec.value)
        if self.group_commit:
            self._rows.append(row)
            self.dirty = True
        else:
            self._db.execute(INSERT, row)

    def flush(self) -> None:
        """Insert and commit every write since the last flush in one transaction; a no-op when none is pending.

        If that fails (an I/O error), nothing of it is committed and the error propagates: the caller
        acknowledges none of those writes."""
        with self._lock:
            if not self.dirty:
                return
            rows, self._rows, self.dirty = self._rows, [], False
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(INSERT, rows)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _persist_compaction(self, revision: int) -> None:
        self.flush()
        db = self._db
        keep = self._rows_as_of(revision)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (rev INTEGER PRIMARY KEY)")
            db.execute("DELETE FROM temp.keep")
            db.executemany("INSERT INTO temp.keep (rev) VALUES (?)", ((rev,) for rev in keep))
            db.execute("DELETE FROM log WHERE rev <= ? AND rev NOT IN (SELECT rev FROM temp.keep)", (revision,))
            db.execute("DELETE FROM temp.keep")
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)", (revision,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _rows_as_of(self, revision: int) -> list[int]:
        """The revision of each key's row that holds its value as of `revision` (keys deleted by then: none).

        A key unchanged since `revision` holds its current record; a key changed later held the `prev` of
        its first change after `revision` (the retained history starts just above `revision`)."""
        keep: list[int] = []
        changed: set[str] = set()
        for event in self._history:
            key = event.record.key
            if key not in changed:
                changed.add(key)
                if event.prev is not None and event.prev.mod_revision <= revision:
                    keep.append(event.prev.mod_revision)
        for records in self._buckets.values():
            for key, rec in records.items():
                if rec.mod_revision <= revision and key not in changed:
                    keep.append(rec.mod_revision)
        return keep

    def close(self) -> None:
        self.flush()
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(5)
        super().close()
        self._db.close()
