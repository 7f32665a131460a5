"""The Store contract, run against every backend: revisions, CAS, list, watch from a revision, compaction."""

from __future__ import annotations

import random
import sqlite3

import pytest

from berth.store import CONFLICT, DELETE, EXISTS, NOT_FOUND, PUT, MemoryStore, SqliteStore, TooOld, open_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = MemoryStore(retain=1000) if request.param == "memory" else SqliteStore(str(tmp_path / "s.db"), retain=1000)
    yield s
    s.close()


def test_every_write_advances_the_revision_by_one(store):
    assert store.revision == 0
    a = store.create("/pods/ns/a", b"1").record
    b = store.update("/pods/ns/a", b"2").record
    c = store.delete("/pods/ns/a").record
    assert (a.mod_revision, b.mod_revision, c.mod_revision) == (1, 2, 3) and store.revision == 3
    assert b.create_revision == 1 and store.get("/pods/ns/a") is None


def test_cas_outcomes_change_nothing(store):
    store.create("/pods/ns/a", b"1")
    assert store.create("/pods/ns/a", b"x").reason == EXISTS
    assert store.update("/pods/ns/a", b"x", expect=99).reason == CONFLICT
    assert store.delete("/pods/ns/a", expect=99).reason == CONFLICT
    assert store.update("/pods/ns/missing", b"x").reason == NOT_FOUND
    assert store.get("/pods/ns/a").value == b"1" and store.revision == 1
    assert store.update("/pods/ns/a", b"2", expect=1).ok


def test_list_is_sorted_paged_and_prefix_scoped(store):
    for key in ["/pods/b/2", "/pods/a/1", "/pods/b/1", "/nodes/n1"]:
        store.create(key, b"v")
    assert [r.key for r in store.list("/pods/").records] == ["/pods/a/1", "/pods/b/1", "/pods/b/2"]
    page = store.list("/pods/", limit=2)
    assert [r.key for r in page.records] == ["/pods/a/1", "/pods/b/1"] and page.more and page.revision == 4
    rest = store.list("/pods/", after=page.records[-1].key, limit=2)
    assert [r.key for r in rest.records] == ["/pods/b/2"] and not rest.more
    assert store.count("/pods/b/") == 2


def test_watch_replays_history_then_streams_live_events(store):
    store.create("/pods/ns/a", b"1")
    store.create("/nodes/n", b"n")
    store.update("/pods/ns/a", b"2")
    seen = []
    w = store.watch("/pods/", 1, seen.append)
    store.delete("/pods/ns/a")
    store.create("/pods/ns/b", b"b")
    assert [(e.kind, e.record.key, e.revision) for e in seen] == [
        (PUT, "/pods/ns/a", 3), (DELETE, "/pods/ns/a", 4), (PUT, "/pods/ns/b", 5)]
    assert seen[1].prev.value == b"2" and seen[1].record.value == b"2"
    w.cancel()
    store.create("/pods/ns/c", b"c")
    assert len(seen) == 3


def test_compaction_makes_old_revisions_too_old(store):
    for i in range(10):
        store.create(f"/pods/ns/{i}", b"v")
    store.compact(6)
    assert store.compacted == 6
    assert store.watch("/pods/", 5, lambda e: None) == TooOld(5, 6)
    seen = []
    store.watch("/pods/", 6, seen.append)
    assert [e.revision for e in seen] == [7, 8, 9, 10]
    assert store.count("/pods/") == 10


def test_retention_compacts_automatically():
    s = MemoryStore(retain=10)
    for i in range(30):
        s.create(f"/pods/ns/{i}", b"v")
    assert 0 < s.compacted <= 20 and s.revision == 30
    assert isinstance(s.watch("/pods/", 0, lambda e: None), TooOld)


def test_sqlite_reopens_with_state_history_and_compaction(tmp_path):
    path = str(tmp_path / "s.db")
    s = SqliteStore(path)
    for i in range(5):
        s.create(f"/pods/ns/{i}", f"v{i}".encode())
    s.update("/pods/ns/0", b"new")
    s.delete("/pods/ns/1")
    s.compact(3)
    s.create("/pods/ns/9", b"late")
    s.close()
    again = open_store(f"sqlite:///{path}")
    assert again.revision == 8 and again.compacted == 3
    assert again.get("/pods/ns/0").value == b"new" and again.get("/pods/ns/1") is None
    assert again.get("/pods/ns/0").create_revision == 1 and again.get("/pods/ns/0").mod_revision == 6
    seen = []
    again.watch("/pods/", 5, seen.append)
    assert [(e.kind, e.revision) for e in seen] == [(PUT, 6), (DELETE, 7), (PUT, 8)]
    assert [r.key for r in again.list("/pods/").records] == [f"/pods/ns/{i}" for i in (0, 2, 3, 4, 9)]
    again.close()


def test_open_store_rejects_unknown_backends():
    with pytest.raises(ValueError, match="unknown store backend"):
        open_store("etcd://localhost:2379")


def test_group_commit_makes_writes_durable_at_flush(tmp_path):
    path = str(tmp_path / "g.db")
    writer = SqliteStore(path, group_commit=True)
    writer.create("/pods/ns/a", b"1")
    writer.create("/pods/ns/b", b"2")
    assert writer.dirty and writer.get("/pods/ns/a").value == b"1"
    before = SqliteStore(path, readonly=True)  # the writer holds the file's lock: read it as another process would
    assert before.revision == 0 and before.get("/pods/ns/a") is None  # another process sees nothing yet
    before.close()
    writer.flush()
    assert not writer.dirty
    after = SqliteStore(path, readonly=True)
    assert after.revision == 2 and after.get("/pods/ns/b").value == b"2"
    after.close()
    writer.close()


@pytest.mark.parametrize("group_commit", [False, True])
def test_sqlite_compaction_keeps_each_keys_value_as_of_the_revision(tmp_path, group_commit):
    """After compaction and a reopen, the state and the events after the compacted revision (with their
    previous values) are those the store had before: the rows kept are each key's value as of it."""
    rng = random.Random(7)
    path = str(tmp_path / "c.db")
    s = SqliteStore(path, group_commit=group_commit, checkpoint_seconds=0)
    keys = [f"/pods/ns/{i}" for i in range(8)]
    for i in range(300):
        key = rng.choice(keys)
        if s.get(key) is None:
            s.create(key, b"c%d" % i)
        elif rng.random() < 0.6:
            s.update(key, b"u%d" % i)
        else:
            s.delete(key)
        if rng.random() < 0.1:
            s.flush()
    s.flush()
    revision = s.revision - 40

    def events(store):
        seen = []
        store.watch("/pods/", revision, seen.append)
        return [(e.kind, e.record, e.prev) for e in seen]

    before, state = events(s), [r for r in s.list("/pods/").records]
    s.compact(revision)
    s.close()
    again = SqliteStore(path, checkpoint_seconds=0)
    assert again.compacted == revision and again.revision == revision + 40
    assert events(again) == before and again.list("/pods/").records == state
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM log WHERE rev <= ?", (revision,)).fetchone()[0]
    assert rows == len({r.key for r in state if r.mod_revision <= revision} | {p.key for _, _, p in before if p and p.mod_revision <= revision})
    again.close()
