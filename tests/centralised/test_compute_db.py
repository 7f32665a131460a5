"""The compute database: every write is a compare-and-swap on the row's version."""

from __future__ import annotations

import threading

import pytest

from berth.centralised.compute.db import Conflict, Repo


def server(repo: Repo, sid: str = "s1") -> dict:
    return repo.create_server({"id": sid, "name": sid, "project_id": "p", "user_id": "u",
                               "flavor": {"id": "f", "vcpus": 1, "ram": 1, "disk": 0}, "status": "BUILD",
                               "task_state": "scheduling", "attempts": 0, "tried_hosts": [], "created": 1.0,
                               "updated": 1.0, "lease_until": 0.0})


def test_a_stale_write_loses_and_changes_nothing(tmp_path):
    repo = Repo(f"sqlite:///{tmp_path / 'c.db'}")
    read = server(repo)
    assert repo.update_server(read, {"host": "h1"})["version"] == 2
    assert repo.update_server(read, {"host": "h2"}) is None
    assert repo.server("s1")["host"] == "h1"
    assert repo.delete_server(read) is False and repo.server("s1") is not None


@pytest.mark.parametrize("where", ["file", "memory"])
def test_concurrent_mutations_never_lose_an_update(tmp_path, where):
    """Each mutation lands or, after its bounded retries, says Conflict; none is silently lost."""
    repo = Repo(f"sqlite:///{tmp_path / 'c.db'}" if where == "file" else "sqlite://")
    server(repo)
    outcomes: list[str] = []

    def bump() -> None:
        for _ in range(20):
            try:
                repo.mutate_server("s1", lambda r: {"attempts": r["attempts"] + 1})
                outcomes.append("landed")
            except Conflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row = repo.server("s1")
    landed = outcomes.count("landed")
    assert len(outcomes) == 120 and landed > 60
    assert row["attempts"] == landed and row["version"] == landed + 1


def test_leases_hide_work_until_they_expire():
    repo = Repo()
    row = server(repo)
    repo.update_server(row, {"lease_owner": "c1", "lease_until": 100.0})
    assert repo.pending(now=99.0) == []
    assert [r["id"] for r in repo.pending(now=100.5)] == ["s1"]


def test_unique_names_and_keys_are_conflicts():
    repo = Repo()
    server(repo)
    with pytest.raises(Conflict):
        server(repo)
    repo.create_flavor({"id": "a", "name": "m1", "vcpus": 1, "ram": 1, "disk": 0, "extra_specs": {}})
    with pytest.raises(Conflict):
        repo.create_flavor({"id": "b", "name": "m1", "vcpus": 1, "ram": 1, "disk": 0, "extra_specs": {}})
