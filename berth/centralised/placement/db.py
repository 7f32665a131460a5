"""The Placement database handle: engine set-up, transactions, standard vocabulary sync.

`Database(url)` opens SQLite (default; WAL, immediate write transactions, busy timeout) or
PostgreSQL with the same schema (`berth.centralised.placement.schema`).  `read()` yields a
connection; `write()` yields a `Tx` whose `touch(provider_id, kind)` records what changed; on
commit the one-row serial is bumped and the change rows inserted in the same transaction, so
every API worker's candidate index sees committed writes in commit order.  `change_token()`
is the cheap "has anything been committed since?" probe the index asks before every query:
SQLite's `PRAGMA data_version` on a connection that never writes (it moves on every commit
by any other connection, in any process), a commit counter for an in-memory database (one
process only), None for PostgreSQL (the index then reads the serial row).  On open, standard
resource classes (os-resource-classes) and traits (os-traits) are synced in.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from collections.abc import Iterator

import os_resource_classes
import os_traits
from sqlalchemy import create_engine, event, insert, select, update, delete
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from berth.centralised.placement import schema as s

CUSTOM_RC_BASE = 10000
"""Ids of custom resource classes start here; standard ones take their list index."""
CHANGE_KEEP = 50000
"""Change rows kept behind the newest serial (older ones are pruned)."""
WATCH_TIMEOUT = 0.05
"""Seconds the data_version probe may wait on a busy database before giving up (it runs on
the event loop; giving up just means reading the serial in a thread instead)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


@dataclass
class Tx:
    """A write transaction: the connection plus the providers it touched."""

    conn: Connection
    touched: set[tuple[int | None, str]] = field(default_factory=set)

    def touch(self, provider_id: int | None, kind: str) -> None:
        self.touched.add((provider_id, kind))


def _sqlite_engine(url: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001 - DBAPI hook
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001 - SQLAlchemy hook
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

    return engine


class Database:
    """One Placement database, shared by any number of API workers."""

    def __init__(self, url: str = "sqlite:///placement.db") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self._lock = threading.RLock() if self.is_sqlite else None
        self._commits = 0
        s.metadata.create_all(self.engine)
        self._sync_vocabulary()
        self._watch = self._open_watch()
        self._watch_lock = threading.Lock()

    def _open_watch(self) -> sqlite3.Connection | None:
        """A private read-only connection to a SQLite file, for `PRAGMA data_version`."""
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:":
            return None
        return sqlite3.connect(path, timeout=WATCH_TIMEOUT, isolation_level=None, check_same_thread=False)

    def change_token(self) -> int | None:
        """A value that differs from any earlier one once another commit has happened since.

        None when no cheap probe exists (PostgreSQL) or it would have to wait (SQLite busy):
        callers must then read the serial.
        """
        if self._watch is not None:
            try:
                with self._watch_lock:
                    return self._watch.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.OperationalError:
                return None
        if self.is_sqlite:
            return self._commits
        return None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._locked(), self.engine.connect() as conn:
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self._locked(), self.engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    tx = Tx(conn)
                    yield tx
                    if tx.touched:
                        self._record(tx)
            finally:
                conn.info["write"] = False
                self._commits += 1

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    def _record(self, tx: Tx) -> None:
        serial = tx.conn.execute(
            update(s.state).where(s.state.c.id == 1).values(serial=s.state.c.serial + 1)
            .returning(s.state.c.serial)).scalar_one()
        tx.conn.execute(insert(s.changes), [
            {"serial": serial, "provider_id": pid, "kind": kind} for pid, kind in tx.touched])
        if serial % 1000 == 0:
            tx.conn.execute(delete(s.changes).where(s.changes.c.serial < serial - CHANGE_KEEP))

    def serial(self, conn: Connection) -> int:
        return conn.execute(select(s.state.c.serial).where(s.state.c.id == 1)).scalar_one()

    def _sync_vocabulary(self) -> None:
        """Insert the state row, standard resource classes and standard traits if missing."""
        now = utcnow()
        with self.write() as tx:
            conn = tx.conn
            if conn.execute(select(s.state.c.id)).first() is None:
                _insert_ignoring(conn, s.state, [{"id": 1, "serial": 0}])
            have = set(conn.execute(select(s.resource_classes.c.name)).scalars())
            rows = [{"id": i, "name": n, "created_at": now}
                    for i, n in enumerate(os_resource_classes.STANDARDS) if n not in have]
            _insert_ignoring(conn, s.resource_classes, rows)
            have = set(conn.execute(select(s.traits.c.name)).scalars())
            rows = [{"name": n, "created_at": now} for n in os_traits.get_traits() if n not in have]
            _insert_ignoring(conn, s.traits, rows)
            tx.touch(None, "vocab")


def _insert_ignoring(conn: Connection, table, rows: list[dict]) -> None:
    """Insert rows; a concurrent worker inserting the same ones first is fine."""
    if not rows:
        return
    try:
        with conn.begin_nested():
            conn.execute(insert(table), rows)
    except IntegrityError:
        for row in rows:
            try:
                with conn.begin_nested():
                    conn.execute(insert(table), [row])
            except IntegrityError:
                pass
