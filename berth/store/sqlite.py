"""The embedded default backend: SQLite in WAL mode under the in-memory store.

The database is a single append-only log table, one row per revision (kine-style): a put or a delete of a
key, with its create revision and its value (a delete's row leaves its value empty: it is the previous row's).
Every write inserts its row and commits before the in-memory history changes and before the caller is
answered, so an acknowledged write survives `kill -9` of the process (WAL with synchronous=NORMAL survives
process death; `sync="full"` also fsyncs each commit for power loss). On open, the log is replayed into
memory; rows above the compacted revision also rebuild the watch window.
Compaction deletes superseded rows and tombstones at or below the compacted revision. The rows it deletes
are known from the compacted events themselves -- the row each one replaced, and each delete's own -- so the
log needs no index beyond its revision key: every write updates one B-tree,
not two (about half of SQLite's cost per write). The file shrinks with its log: incremental auto-vacuum gives
the pages compaction frees back after each compaction, an older file without it is vacuumed once on open,
and the WAL file is cut back to `WAL_LIMIT` after checkpoints (to nothing once a checkpoint copied it all).

With `group_commit=True` a write only queues its row and marks the store `dirty`; the caller must call
`flush()` (one transaction inserting every queued row, then COMMIT) before it acknowledges any of those
writes or shows them to anyone. The API server does this once per event-loop turn, so concurrent requests
share one commit. If the commit fails, the queued writes are undone in memory too (see memory.py).
A locked database is retried for `busy_seconds` (SQLite's busy handler) before the commit fails.

One process at a time may open a file for writing: the store holds an exclusive `flock` on `<path>.lock`
for its life, and a second opener gets `StoreInUse` (two writers would each acknowledge writes the other
cannot see). `readonly=True` opens a file someone else serves, for reading only, without that lock.

WAL checkpoints (copying the log back into the database file, with an fsync) run in a background thread on
their own connection every `checkpoint_seconds`, so writers never stall behind one.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

from berth.store.interface import DELETE, PUT, Event, Record, StoreInUse
from berth.store.memory import MemoryStore

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, deleted INTEGER NOT NULL,"
    " create_rev INTEGER NOT NULL, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
INSERT = "INSERT INTO log (rev, key, deleted, create_rev, value) VALUES (?, ?, ?, ?, ?)"

SYNC_MODES = {"normal": "NORMAL", "full": "FULL"}
WAL_LIMIT = 64 << 20  # bytes the WAL file keeps after a checkpoint (it grows to the largest burst otherwise)
INCREMENTAL = 2  # PRAGMA auto_vacuum's value for incremental vacuum


def hold_lock(path: str) -> int:
    """An exclusive flock on `<path>.lock`, held until the returned descriptor is closed; StoreInUse if taken."""
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreInUse(f"store {path} is in use by another process (pid {holder}): one server per store"
                         " file") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def wal_size(path: str) -> int:
    try:
        return os.path.getsize(path + "-wal")
    except OSError:
        return 0


class SqliteStore(MemoryStore):
    """A `Store` persisted in one SQLite file; `path` may be ':memory:' for throwaway tests."""

    def __init__(self, path: str, *, retain: int = 100_000, retain_bytes: int = 64 << 20, sync: str = "normal",
                 group_commit: bool = False, checkpoint_seconds: float = 1.0, busy_seconds: float = 2.0,
                 readonly: bool = False) -> None:
        super().__init__(retain=retain, retain_bytes=retain_bytes)
        self.path = path
        self.group_commit = group_commit and not readonly
        self.dirty = False
        self._rows: list[tuple] = []
        self._lock_fd = hold_lock(path) if path != ":memory:" and not readonly else None
        try:
            self._db = self._connect(path, sync, busy_seconds, readonly)
            self._load()
            if not readonly:
                self._trim()
                self._shrink()
        except BaseException:
            self._release()
            raise
        self._stop = threading.Event()
        self._checkpointer = None
        if path != ":memory:" and checkpoint_seconds > 0 and not readonly:
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(checkpoint_seconds,),
                                                  name="sqlite-checkpoint", daemon=True)
            self._checkpointer.start()

    @staticmethod
    def _connect(path: str, sync: str, busy_seconds: float, readonly: bool) -> sqlite3.Connection:
        if readonly:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=busy_seconds)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_seconds)
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect in a new file; `_shrink` converts an old one
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={SYNC_MODES[sync]}")
        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        for statement in SCHEMA:
            db.execute(statement)
        return db

    def _checkpoint_loop(self, every: float) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
        try:
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            while not self._stop.wait(every):
                busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy and frames == copied and wal_size(self.path) > WAL_LIMIT:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all copied back: this only cuts the file
        except sqlite3.Error:
            pass  # the store is closing; the next open checkpoints what is left
        finally:
            db.close()

    def _load(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'compacted'").fetchone()
        compacted = row[0] if row else 0
        self._compacted = compacted
        self._revision = compacted
        cursor = self._db.execute("SELECT rev, key, deleted, create_rev, value FROM log ORDER BY rev")
        for rev, key, deleted, create_rev, value in cursor:
            prev = self.get(key)
            if deleted and not value and prev is not None:
                value = prev.value  # a tombstone's value is the one it deletes
            event = Event(DELETE if deleted else PUT, Record(key, bytes(value), create_rev, rev), prev)
            self._apply(event)
            if rev > compacted:
                self._remember(event)

    def _shrink(self) -> None:
        """Give free pages back to the file system: vacuum a file without incremental auto-vacuum once (or one
        mostly free), release what compaction freed, and cut the WAL file back."""
        db = self._db
        if self.path == ":memory:":
            return
        pages, free = (db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count"))
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] != INCREMENTAL and pages > 8 or free > pages // 2 > 64:
            db.execute("VACUUM")
        else:
            db.executescript("PRAGMA incremental_vacuum;")  # execute() would free a single page
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _persist(self, event: Event) -> None:
        rec = event.record
        deleted = event.kind == DELETE
        row = (rec.mod_revision, rec.key, int(deleted), rec.create_revision, b"" if deleted else rec.value)
        if self.group_commit:
            self._rows.append(row)
            self.dirty = True
        else:
            self._db.execute(INSERT, row)

    def flush(self) -> None:
        """Insert and commit every write since the last flush in one transaction; a no-op when none is pending.

        If that fails (an I/O error, or the database still locked after `busy_seconds`), nothing of it is
        committed, the writes are undone in memory (reads no longer see them, no watcher ever did) and the
        error propagates: the caller acknowledges none of them."""
        with self._lock:
            if not self.dirty:
                return
            rows, self._rows, self.dirty = self._rows, [], False
            pending, self._pending = self._pending, []
            try:
                self._transaction(lambda db: db.executemany(INSERT, rows))
            except BaseException:
                self._undo(pending)
                raise
            self._settle(pending)

    def _transaction(self, work) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            work(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _persist_compaction(self, revision: int, dropped: list[Event]) -> None:
        rows = superseded(dropped)

        def work(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM log WHERE rev = ?", ((rev,) for rev in rows))
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)", (revision,))

        self._transaction(work)
        self._db.executescript("PRAGMA incremental_vacuum;")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._stop.set()
            if self._checkpointer is not None:
                self._checkpointer.join(5)
            super().close()
            self._db.close()
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None


def superseded(dropped: list[Event]) -> list[int]:
    """The rows a compaction over `dropped` (every event between the old and the new compacted revision)
    deletes: the row each of them replaced (its `prev`), and its own row if it is a delete.  What stays
    is each key's value as of the new revision, so the work is proportional to the events compacted, not to
    the whole log (measured in `berth bench declarative`: a scan of every key per compaction cost ~8% of the
    API server's CPU once the byte bound made compactions happen during the run)."""
    rows = [event.prev.mod_revision for event in dropped if event.prev is not None]
    rows += [event.record.mod_revision for event in dropped if event.kind == DELETE]
    return rows
