"""Regressions for the store defects a probe of the API server found: history unbounded in bytes, memory
growing under create-delete churn, a failed commit leaving a phantom object, and two servers sharing one
SQLite file (split brain)."""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import subprocess
import sys
import time
import tracemalloc

import httpx
import pytest

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.authn import trust_every_caller_as_admin
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.selectors import Filter
from berth.launch.ports import free_port
from berth.store import MemoryStore, SqliteStore, TooOld
from tests.store.test_store_durability import AUTH, start_server

PODS = "/api/v1/namespaces/default/pods"
MIB = 1 << 20


def pod(name: str) -> dict:
    return {"metadata": {"name": name, "labels": {"app": "churn"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}


def disk(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


def replayed(store, since: int) -> list:
    seen: list = []
    store.watch("/", since, seen.append).cancel()
    return seen


# -- history bounded in bytes ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_history_is_bounded_in_bytes_as_well_as_events(tmp_path, backend):
    store = MemoryStore(retain_bytes=MIB) if backend == "memory" else \
        SqliteStore(str(tmp_path / "b.db"), retain_bytes=MIB, checkpoint_seconds=0)
    big = b"x" * (100 << 10)
    for i in range(40):
        store.create(f"/pods/ns/{i}", big)
    assert store.compacted > 0 and store.count("/pods/") == 40
    kept = replayed(store, store.compacted)
    assert sum(len(e.record.value) for e in kept) <= MIB * 5 // 4
    assert [e.revision for e in kept] == list(range(store.compacted + 1, 41))  # the newest, none skipped
    assert isinstance(store.watch("/pods/", 0, lambda e: None), TooOld)  # 410 Gone, as for any compaction
    store.close()


def test_big_objects_deleted_leave_a_small_file_and_a_small_history_after_a_restart(tmp_path):
    """100 objects of 1 MiB, all deleted: with the default bounds, the file and what a restart loads back are
    a fraction of what was written (a delete's row holds no value; compaction frees and returns pages)."""
    path = str(tmp_path / "big.db")
    store = SqliteStore(path, group_commit=True)
    value = b"a" * MIB
    for i in range(100):
        store.create(f"/pods/ns/p{i}", value)
        store.flush()
    for i in range(100):
        store.delete(f"/pods/ns/p{i}")
        store.flush()
    store.close()
    again = SqliteStore(path)
    assert again.count("/pods/") == 0 and again.revision == 200
    assert sum(len(e.record.value) for e in replayed(again, again.compacted)) <= 80 * MIB
    again.close()
    assert disk(path) < 80 * MIB, f"{disk(path) / MIB:.0f} MiB on disk for no objects"


# -- memory flat under churn -----------------------------------------------------------------------------
async def churn(client: httpx.AsyncClient, start: int, cycles: int, drain) -> None:
    for i in range(start, start + cycles):
        assert (await client.post(PODS, json=pod(f"p{i}"))).status_code == 201
        assert (await client.delete(f"{PODS}/p{i}")).status_code == 200
        drain()


def test_memory_stays_flat_under_create_delete_churn(tmp_path):
    """After a warm-up that fills the history window, more create-delete cycles (with two watchers reading)
    grow the memory the server's own code holds by less than 256 bytes a cycle."""
    store = SqliteStore(str(tmp_path / "churn.db"), group_commit=True, retain_bytes=64 << 10)
    app = create_app(store, access=trust_every_caller_as_admin())
    hub, pods = app.api.hub, BY_PLURAL["pods"]
    watchers = [hub.open(pods, Filter(), store.revision),
                hub.open(pods, Filter(fields=(("spec.nodeName", "=", ""),)), store.revision)]

    def drain() -> None:
        for w in watchers:
            while not w.queue.empty():
                w.queue.get_nowait()

    async def run() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://berth") as client:
            await churn(client, 0, 600, drain)
            gc.collect()
            tracemalloc.start(12)
            try:
                before = tracemalloc.take_snapshot()
                await churn(client, 600, 1500, drain)
                gc.collect()
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
        ours = [tracemalloc.Filter(True, "*/berth/*", all_frames=True)]
        diff = after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename")
        return sum(d.size_diff for d in diff) / 1500

    per_cycle = asyncio.run(run())
    store.close()
    assert per_cycle < 256, f"memory grew by {per_cycle:.0f} bytes per create-delete cycle"


# -- a failed commit leaves no phantom -------------------------------------------------------------------
def test_a_failed_commit_is_undone_in_memory_and_never_reaches_a_watcher(tmp_path):
    path = str(tmp_path / "undo.db")
    store = SqliteStore(path, group_commit=True, busy_seconds=0.1, checkpoint_seconds=0)
    store.create("/pods/ns/a", b"1")
    store.flush()
    seen: list = []
    store.watch("/pods/", store.revision, seen.append)
    store.update("/pods/ns/a", b"2")
    store.create("/pods/ns/b", b"b")
    store.delete("/pods/ns/a")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    with pytest.raises(sqlite3.OperationalError):
        store.flush()
    holder.execute("ROLLBACK")
    assert store.revision == 1 and not store.dirty and seen == []
    assert store.get("/pods/ns/a").value == b"1" and store.get("/pods/ns/b") is None
    assert store.create("/pods/ns/b", b"again").record.mod_revision == 2
    store.flush()
    assert [(e.record.key, e.revision) for e in seen] == [("/pods/ns/b", 2)]
    store.close()
    again = SqliteStore(path, readonly=True)
    assert again.revision == 2 and again.get("/pods/ns/a").value == b"1" and again.get("/pods/ns/b").value == b"again"
    again.close()


def test_a_post_that_failed_to_commit_leaves_no_pod(tmp_path):
    """While another process holds the SQLite write lock a create fails (500); the pod is then not there
    (404, and no watcher saw it), and once the lock is released the same create succeeds (201, not 409)."""
    path = str(tmp_path / "phantom.db")
    store = SqliteStore(path, group_commit=True)
    app = create_app(store, access=trust_every_caller_as_admin())
    watcher = app.api.hub.open(BY_PLURAL["pods"], Filter(), store.revision)
    holder = sqlite3.connect(path, isolation_level=None)

    async def run() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://berth") as c:
            holder.execute("BEGIN IMMEDIATE")
            codes = [(await c.post(PODS, json=pod("ghost"))).status_code, (await c.get(f"{PODS}/ghost")).status_code,
                     watcher.queue.qsize()]
            holder.execute("ROLLBACK")
            return codes + [(await c.post(PODS, json=pod("ghost"))).status_code,
                            (await c.get(f"{PODS}/ghost")).status_code]

    assert asyncio.run(run()) == [500, 404, 0, 201, 200]
    assert watcher.queue.qsize() == 1
    store.close()


# -- one writer per SQLite file --------------------------------------------------------------------------
def test_a_second_api_server_on_the_same_file_refuses_to_start(tmp_path):
    db = str(tmp_path / "state.db")
    first = start_server(db, free_port())
    try:
        port = free_port()
        second = subprocess.Popen([sys.executable, "-m", "berth.declarative.apiserver", "--store", f"sqlite:///{db}",
                                   "--port", str(port), "--insecure"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            _, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()
            second.wait()
            pytest.fail("a second API server started on a SQLite file another one serves")
        lines = err.strip().splitlines()
        assert second.returncode != 0 and len(lines) == 1, err
        assert db in lines[0] and "in use" in lines[0] and str(first.pid) in lines[0]
    finally:
        first.terminate()
        first.wait(10)


def test_the_store_file_has_one_writer_at_a_time(tmp_path):
    path = str(tmp_path / "one.db")
    opener = [sys.executable, "-c", f"from berth.store import SqliteStore; SqliteStore({path!r}).close()"]
    store = SqliteStore(path)
    refused = subprocess.run(opener, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and f"StoreInUse: store {path} is in use by another process" in refused.stderr
    reader = SqliteStore(path, readonly=True)  # reading is still allowed
    reader.close()
    store.close()
    assert subprocess.run(opener, capture_output=True, text=True, timeout=60).returncode == 0
    start = time.monotonic()
    SqliteStore(path).close()
    assert time.monotonic() - start < 5


def test_a_stored_pod_holds_about_its_encoded_size():
    """Each stored value is an encoding the store keeps for the object's life and in its history: it must not
    drag a whole encoder buffer along (orjson's output holds 4 KiB for a 900-byte pod)."""
    store = MemoryStore()
    app = create_app(store, access=trust_every_caller_as_admin())

    async def run() -> float:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://berth") as client:
            await client.post(PODS, json=pod("warm"))
            gc.collect()
            tracemalloc.start(12)
            try:
                before = tracemalloc.take_snapshot()
                for i in range(300):
                    assert (await client.post(PODS, json=pod(f"p{i}"))).status_code == 201
                gc.collect()
                after = tracemalloc.take_snapshot()
            finally:
                tracemalloc.stop()
        ours = [tracemalloc.Filter(True, "*/berth/*", all_frames=True)]
        return sum(d.size_diff for d in after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename"))

    grown = asyncio.run(run()) / 300
    size = len(store.get("/pods/default/p0").value)
    assert grown < size + 1024, f"each pod of {size} bytes holds {grown:.0f} bytes"
