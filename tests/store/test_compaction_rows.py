"""Compaction on SQLite deletes exactly the rows no reader needs: a random timeline of creates, updates and
deletes over a few keys, compacted at random revisions, must leave in the log each key's row as of the
compacted revision plus every later row, and a reopened store must hold the same records."""

from __future__ import annotations

import random
import sqlite3

from berth.store import SqliteStore


def expected_rows(timeline: list[tuple[int, str, bool]], compacted: int) -> set[int]:
    latest: dict[str, tuple[int, bool]] = {}
    for rev, key, deleted in timeline:
        if rev <= compacted:
            latest[key] = (rev, deleted)
    kept = {rev for rev, deleted in latest.values() if not deleted}
    return kept | {rev for rev, _key, _deleted in timeline if rev > compacted}


def step(store: SqliteStore, rng: random.Random, timeline: list) -> None:
    key = f"/k/{rng.randrange(6)}"
    current = store.get(key)
    if current is None:
        outcome = store.create(key, b"v%d" % rng.randrange(1000))
    elif rng.random() < 0.3:
        outcome = store.delete(key)
    else:
        outcome = store.update(key, b"v%d" % rng.randrange(1000))
    timeline.append((store.revision, key, current is not None and outcome is not None
                     and store.get(key) is None))


def test_compaction_keeps_each_keys_value_as_of_the_revision_and_every_later_row(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "s.db"
    store = SqliteStore(str(path))
    timeline: list[tuple[int, str, bool]] = []
    for _round in range(30):
        for _ in range(rng.randrange(1, 20)):
            step(store, rng, timeline)
        target = rng.randrange(store.compacted, store.revision + 1)
        store.compact(target)
        rows = {r for (r,) in sqlite3.connect(path).execute("SELECT rev FROM log")}
        assert rows == expected_rows(timeline, store.compacted), f"after compacting to {store.compacted}"
    records = {key: store.get(key) for key in (f"/k/{i}" for i in range(6))}
    store.close()
    reopened = SqliteStore(str(path))
    try:
        assert {key: reopened.get(key) for key in records} == records
        assert reopened.compacted == store.compacted
    finally:
        reopened.close()
