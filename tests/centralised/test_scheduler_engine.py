"""The scheduler keeps one engine across requests, kept up to date from Placement's answers."""

from __future__ import annotations

from types import SimpleNamespace

from berth.centralised.scheduler.manager import Scheduler
from berth.centralised.scheduler.request import RequestSpec
from tests.centralised.test_scheduler_select import hosts, summaries


class ScriptedPlacement:
    """Answers allocation candidates from `answer` (edited by the test) and grants every claim."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer

    def allocation_candidates(self, query) -> dict:
        return self.answer

    def claim(self, consumer, allocations, project_id, user_id):
        return SimpleNamespace(ok=True)


def request(n: int) -> RequestSpec:
    return RequestSpec(f"5f0c3a52-1111-4a6e-9c1e-{n:012d}", "p", "u", {"VCPU": 1, "MEMORY_MB": 512})


def use(ac: dict, rp: str, vcpu: int, mem: int) -> None:
    resources = ac["provider_summaries"][rp]["resources"]
    resources["VCPU"]["used"], resources["MEMORY_MB"]["used"] = vcpu, mem


def test_successive_requests_share_one_engine_and_follow_usage_changes():
    ac = summaries({"rp-a": (16, 8192), "rp-b": (8, 4096)})
    scheduler = Scheduler(ScriptedPlacement(ac), lambda: hosts("a", "b"), seed=0)
    assert scheduler.select_destinations(request(1)).chosen.host == "a"   # the freest host
    engine = scheduler.ranker.hosts.engine
    tick = engine.snapshot.tick

    use(ac, "rp-a", 15, 8000)                  # Placement now reports a nearly full
    second = scheduler.select_destinations(request(2))
    assert second.chosen.host == "b"
    assert scheduler.ranker.hosts.engine is engine
    assert engine.snapshot.changed_since(tick).tolist() == [engine.snapshot.index["a"]]

    tick = engine.snapshot.tick
    assert scheduler.select_destinations(request(3)).chosen.host == "b"
    assert engine.snapshot.tick == tick        # nothing moved: every row comes from the cache


def test_new_hosts_join_the_engine_and_changed_hosts_are_redefined():
    ac = summaries({"rp-a": (8, 4096)})
    agents = hosts("a", "b")
    scheduler = Scheduler(ScriptedPlacement(ac), lambda: agents, seed=0)
    assert scheduler.select_destinations(request(1)).chosen.host == "a"
    engine = scheduler.ranker.hosts.engine

    ac.update(summaries({"rp-a": (8, 4096), "rp-b": (32, 16384)}))
    assert scheduler.select_destinations(request(2)).chosen.host == "b"
    assert scheduler.ranker.hosts.engine is engine and scheduler.ranker.hosts.rebuilds == 0

    agents.update(hosts("a", "b", down=("b",)))   # a definition change: the host is down now
    third = scheduler.select_destinations(request(3))
    assert third.chosen.host == "a" and not third.alternates


def test_hosts_missing_from_an_answer_are_not_chosen_nor_counted():
    ac = summaries({"rp-a": (8, 4096), "rp-b": (32, 16384)})
    scheduler = Scheduler(ScriptedPlacement(ac), lambda: hosts("a", "b"), seed=0)
    assert scheduler.select_destinations(request(1)).chosen.host == "b"
    ac.update(summaries({"rp-a": (8, 4096)}))
    only = scheduler.select_destinations(request(2))
    assert only.chosen.host == "a" and not only.alternates
    use(ac, "rp-a", 8, 4096)
    full = scheduler.select_destinations(request(3))
    assert not full.ok and full.hosts == 1
    assert full.reasons == {"Insufficient cpu": 1, "Insufficient memory": 1}
