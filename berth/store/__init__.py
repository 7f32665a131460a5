"""Durable, versioned state: a global revision, compare-and-swap on each record, and watch-from-revision.

`Store` (interface.py) is the contract; `MemoryStore` serves the simulator and unit tests, `SqliteStore`
is the embedded durable default. `open_store(url)` picks a backend from the BACKENDS table by URL scheme:
'memory://' or 'sqlite:///path/to/file.db'. Callers: the declarative API server, the simulator, tests.
"""

from __future__ import annotations

from typing import Callable

from berth.store.interface import (
    CONFLICT, DELETE, EXISTS, NOT_FOUND, PUT, Event, Listing, Outcome, Record, Sink, Store, StoreInUse, TooOld,
    Watching,
)
from berth.store.memory import MemoryStore
from berth.store.sqlite import SqliteStore

BACKENDS: dict[str, Callable[..., Store]] = {
    "memory": lambda rest, **kw: MemoryStore(**kw),
    "sqlite": lambda rest, **kw: SqliteStore(rest or ":memory:", **kw),
}


def open_store(url: str, **options) -> Store:
    """Open a store from 'memory://' or 'sqlite:///file.db' (a bare path also means SQLite)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "sqlite", url
    if scheme not in BACKENDS:
        raise ValueError(f"unknown store backend {scheme!r}; known: {', '.join(sorted(BACKENDS))}")
    if scheme == "sqlite" and rest.startswith("/"):
        rest = rest[1:] if rest.startswith("//") else rest
    return BACKENDS[scheme](rest, **options)


__all__ = [
    "BACKENDS", "CONFLICT", "DELETE", "EXISTS", "NOT_FOUND", "PUT", "Event", "Listing", "MemoryStore",
    "Outcome", "Record", "Sink", "SqliteStore", "Store", "StoreInUse", "TooOld", "Watching", "open_store",
]
