"""`Repo`: the compute plane's state in SQL, where every change is a compare-and-swap.

Rows come back as plain dicts.  `update` writes only if the row's `version` is still the one
the caller read, and bumps it; `mutate` wraps read -> decide -> CAS in a bounded retry loop, so
a lost race is retried against fresh state and never silently overwrites.  SQLite (the
default) runs in WAL mode with a busy timeout so the API, the conductor and the scheduler
processes can share one file; an in-memory database (one connection, for tests) is used by one
thread at a time.  Called by the compute API, the conductor and the scheduler.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, delete, event, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from berth.centralised.compute import schema
from berth.centralised.compute.schema import flavors, server_groups, servers, services

Row = dict[str, Any]
CAS_RETRIES = 8
ACTIVE_TASKS = ("scheduling", "deleting")


class Conflict(Exception):
    """A compare-and-swap kept losing for `CAS_RETRIES` rounds (or a unique key clashed)."""


def make_engine(url: str = "sqlite://"):
    """An SQLAlchemy engine; SQLite gets WAL, a busy timeout and one shared in-memory DB."""
    if not url.startswith("sqlite"):
        return create_engine(url, future=True)
    kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if url in ("sqlite://", "sqlite:///:memory:"):
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(conn, _record) -> None:
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Repo:
    """Reads and compare-and-swap writes over the compute tables."""

    def __init__(self, url_or_engine: str | Any = "sqlite://") -> None:
        self.engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        shared = isinstance(self.engine.pool, StaticPool)
        self._serial = threading.RLock() if shared else contextlib.nullcontext()
        schema.metadata.create_all(self.engine)

    @contextlib.contextmanager
    def _tx(self):
        """A transaction; with one shared in-memory connection, one thread at a time."""
        with self._serial, self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self):
        with self._serial, self.engine.connect() as conn:
            yield conn

    # ---- generic -------------------------------------------------------------------------
    def _one(self, table, key: str, value: Any) -> Row | None:
        with self._read() as conn:
            row = conn.execute(select(table).where(table.c[key] == value)).first()
        return dict(row._mapping) if row else None

    def _all(self, query) -> list[Row]:
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def _insert(self, table, values: Row) -> Row:
        try:
            with self._tx() as conn:
                conn.execute(insert(table).values(**values, version=1))
        except IntegrityError as err:
            raise Conflict(str(err.orig)) from None
        return dict(values, version=1)

    def _cas(self, table, key: str, row: Row, changes: Row) -> Row | None:
        """Write `changes` if `row` is unchanged since read; the new row, or None on a lost race."""
        stmt = (update(table).where(table.c[key] == row[key], table.c.version == row["version"])
                .values(**changes, version=row["version"] + 1))
        with self._tx() as conn:
            if conn.execute(stmt).rowcount != 1:
                return None
        return dict(row, **changes, version=row["version"] + 1)

    def _mutate(self, table, key: str, value: Any, decide: Callable[[Row], Row | None]) -> Row | None:
        """Read, let `decide` return changes (or None to leave it), CAS; retry on lost races."""
        for _ in range(CAS_RETRIES):
            row = self._one(table, key, value)
            if row is None:
                return None
            changes = decide(row)
            if changes is None:
                return row
            new = self._cas(table, key, row, changes)
            if new is not None:
                return new
        raise Conflict(f"{table.name}/{value}: still changing after {CAS_RETRIES} tries")

    def _delete(self, table, key: str, value: Any) -> bool:
        """Delete the row as last read (version-checked); False if it is not there."""
        for _ in range(CAS_RETRIES):
            row = self._one(table, key, value)
            if row is None:
                return False
            with self._tx() as conn:
                gone = conn.execute(delete(table).where(table.c[key] == value,
                                                        table.c.version == row["version"])).rowcount
            if gone == 1:
                return True
        raise Conflict(f"{table.name}/{value}: still changing after {CAS_RETRIES} tries")

    # ---- flavors -------------------------------------------------------------------------
    def create_flavor(self, values: Row) -> Row:
        return self._insert(flavors, values)

    def flavor(self, flavor_id: str) -> Row | None:
        return self._one(flavors, "id", flavor_id)

    def flavors(self) -> list[Row]:
        return self._all(select(flavors).order_by(flavors.c.vcpus, flavors.c.ram, flavors.c.id))

    def delete_flavor(self, flavor_id: str) -> bool:
        return self._delete(flavors, "id", flavor_id)

    # ---- server groups -------------------------------------------------------------------
    def create_group(self, values: Row) -> Row:
        return self._insert(server_groups, values)

    def group(self, group_id: str) -> Row | None:
        return self._one(server_groups, "id", group_id)

    def groups(self) -> list[Row]:
        return self._all(select(server_groups).order_by(server_groups.c.name, server_groups.c.id))

    def delete_group(self, group_id: str) -> bool:
        return self._delete(server_groups, "id", group_id)

    def group_members(self, group_id: str) -> list[Row]:
        return self._all(select(servers.c.id, servers.c.host, servers.c.status)
                         .where(servers.c.group_id == group_id))

    # ---- servers -------------------------------------------------------------------------
    def create_server(self, values: Row) -> Row:
        return self._insert(servers, values)

    def server(self, server_id: str) -> Row | None:
        return self._one(servers, "id", server_id)

    def servers(self) -> list[Row]:
        return self._all(select(servers).order_by(servers.c.created, servers.c.id))

    def update_server(self, row: Row, changes: Row) -> Row | None:
        """CAS one server row; None if it changed since `row` was read."""
        return self._cas(servers, "id", row, changes)

    def mutate_server(self, server_id: str, decide: Callable[[Row], Row | None]) -> Row | None:
        return self._mutate(servers, "id", server_id, decide)

    def delete_server(self, row: Row) -> bool:
        """Remove a server row if unchanged since read."""
        with self._tx() as conn:
            return conn.execute(delete(servers).where(
                servers.c.id == row["id"], servers.c.version == row["version"])).rowcount == 1

    def pending(self, now: float, limit: int = 64) -> list[Row]:
        """Servers with work for a conductor (scheduling or deleting) and no live lease."""
        return self._all(select(servers).where(
            servers.c.task_state.in_(ACTIVE_TASKS),
            or_(servers.c.lease_owner.is_(None), servers.c.lease_until < now),
        ).order_by(servers.c.created).limit(limit))

    # ---- compute services ----------------------------------------------------------------
    def service(self, host: str) -> Row | None:
        return self._one(services, "host", host)

    def services(self) -> list[Row]:
        return self._all(select(services).order_by(services.c.host))

    def report_service(self, host: str, values: Row) -> Row:
        """Create or refresh an agent's service row (CAS on update)."""
        for _ in range(CAS_RETRIES):
            row = self.service(host)
            if row is None:
                try:
                    return self._insert(services, dict(values, host=host))
                except Conflict:
                    continue
            keep = {k: v for k, v in values.items() if k != "disabled"}
            new = self._cas(services, "host", row, keep)
            if new is not None:
                return new
        raise Conflict(f"services/{host}: still changing after {CAS_RETRIES} tries")

    def set_service_disabled(self, host: str, disabled: bool) -> Row | None:
        return self._mutate(services, "host", host, lambda r: {"disabled": disabled})
