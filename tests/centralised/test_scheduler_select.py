"""The scheduler's pure parts: prefilter queries, candidate snapshots, ranking with the engine."""

from __future__ import annotations

import numpy as np

from berth.centralised.scheduler.hosts import HostInfo, candidates
from berth.centralised.scheduler.prefilters import build_query
from berth.centralised.scheduler.request import GroupInfo, RequestSpec, zone_aggregate
from berth.centralised.scheduler.select import SchedulerConfig, rank
from berth.centralised.scheduler.weighing import WeigherConfig


def summaries(free: dict[str, tuple[int, int]]) -> dict:
    """Allocation-candidates answer: per provider (vcpu capacity, memory capacity); usage 0."""
    reqs, sums = [], {}
    for rp, (cpu, mem) in free.items():
        reqs.append({"allocations": {rp: {"resources": {"VCPU": 1, "MEMORY_MB": 512}}}})
        sums[rp] = {"resources": {"VCPU": {"capacity": cpu, "used": 0}, "MEMORY_MB": {"capacity": mem, "used": 0}},
                    "root_provider_uuid": rp}
    return {"allocation_requests": reqs, "provider_summaries": sums}


def hosts(*names: str, down: tuple[str, ...] = ()) -> dict[str, HostInfo]:
    return {f"rp-{n}": HostInfo(n, f"rp-{n}", f"http://{n}", "nova", n not in down, False) for n in names}


def spec(group: GroupInfo | None = None, ignore: tuple[str, ...] = (), zone: str | None = None) -> RequestSpec:
    return RequestSpec("5f0c3a52-1111-4a6e-9c1e-000000000001", "p", "u", {"VCPU": 1, "MEMORY_MB": 512},
                       required_traits=("HW_CPU_X86_AVX2",), availability_zone=zone, group=group, ignore_hosts=ignore)


def test_query_carries_resources_traits_zone_and_limit():
    query = dict(build_query(spec(zone="az1"), limit=50))
    assert query == {"resources": "MEMORY_MB:512,VCPU:1", "required": "HW_CPU_X86_AVX2,!COMPUTE_STATUS_DISABLED",
                     "member_of": zone_aggregate("az1"), "limit": "50"}


def test_ram_and_cpu_weighers_spread_to_the_freest_host():
    ac = summaries({"rp-a": (4, 2048), "rp-b": (16, 8192), "rp-c": (8, 4096)})
    ranking = rank(spec(), candidates(ac, hosts("a", "b", "c")), SchedulerConfig(), np.random.default_rng(0))
    assert [c.host.host for c in ranking.candidates] == ["b", "c", "a"]
    assert ranking.weights[0] > ranking.weights[1] > ranking.weights[2]


def test_negative_multipliers_stack():
    ac = summaries({"rp-a": (4, 2048), "rp-b": (16, 8192), "rp-c": (8, 4096)})
    config = SchedulerConfig(weighers=WeigherConfig(ram_weight_multiplier=-1.0, cpu_weight_multiplier=-1.0))
    ranking = rank(spec(), candidates(ac, hosts("a", "b", "c")), config, np.random.default_rng(0))
    assert [c.host.host for c in ranking.candidates] == ["a", "c", "b"]


def test_anti_affinity_keeps_members_apart_and_explains_when_full():
    ac = summaries({"rp-a": (8, 4096), "rp-b": (8, 4096)})
    group = GroupInfo("g1", "anti-affinity", ("a",))
    ranking = rank(spec(group), candidates(ac, hosts("a", "b")), SchedulerConfig(), np.random.default_rng(0))
    assert [c.host.host for c in ranking.candidates] == ["b"]
    full = rank(spec(GroupInfo("g1", "anti-affinity", ("a", "b"))), candidates(ac, hosts("a", "b")),
                SchedulerConfig(), np.random.default_rng(0))
    assert not full.ok
    assert full.message.startswith("No valid host was found. Filtering removed all hosts")
    assert full.reasons == {"host(s) didn't match server group anti-affinity rules": 2}


def test_affinity_follows_the_group_and_retry_skips_tried_hosts():
    ac = summaries({"rp-a": (8, 4096), "rp-b": (16, 8192), "rp-c": (8, 4096)})
    cands = candidates(ac, hosts("a", "b", "c"))
    together = rank(spec(GroupInfo("g", "affinity", ("c",))), cands, SchedulerConfig(), np.random.default_rng(0))
    assert [c.host.host for c in together.candidates] == ["c"]
    retry = rank(spec(ignore=("b",)), cands, SchedulerConfig(), np.random.default_rng(0))
    assert "b" not in [c.host.host for c in retry.candidates]


def test_soft_anti_affinity_prefers_hosts_without_members_but_allows_them():
    ac = summaries({"rp-a": (16, 8192), "rp-b": (8, 4096)})
    cands = candidates(ac, hosts("a", "b"))
    soft = rank(spec(GroupInfo("g", "soft-anti-affinity", ("a", "a"))), cands,
                SchedulerConfig(weighers=WeigherConfig(soft_anti_affinity_weight_multiplier=10.0)),
                np.random.default_rng(0))
    assert [c.host.host for c in soft.candidates] == ["b", "a"]
    pull = rank(spec(GroupInfo("g", "soft-affinity", ("b",))), cands,
                SchedulerConfig(weighers=WeigherConfig(soft_affinity_weight_multiplier=10.0)),
                np.random.default_rng(0))
    assert [c.host.host for c in pull.candidates] == ["b", "a"]


def test_down_hosts_are_filtered_by_the_engine_taint_filter():
    ac = summaries({"rp-a": (16, 8192), "rp-b": (8, 4096)})
    ranking = rank(spec(), candidates(ac, hosts("a", "b", down=("a",))), SchedulerConfig(), np.random.default_rng(0))
    assert [c.host.host for c in ranking.candidates] == ["b"]


def test_host_subset_size_draws_among_the_best():
    ac = summaries({f"rp-h{i}": (8 + i, 4096 + i) for i in range(6)})
    cands = candidates(ac, hosts(*(f"h{i}" for i in range(6))))
    firsts = {rank(spec(), cands, SchedulerConfig(host_subset_size=3), np.random.default_rng(s)).candidates[0].host.host
              for s in range(40)}
    assert firsts == {"h5", "h4", "h3"}


def test_no_candidates_reads_like_nova():
    empty = rank(spec(), [], SchedulerConfig(), np.random.default_rng(0))
    assert not empty.ok and "Got no allocation candidates from the Placement API" in empty.message


def test_providers_without_an_agent_are_not_candidates():
    ac = summaries({"rp-a": (8, 4096), "rp-x": (64, 65536)})
    assert [c.host.host for c in candidates(ac, hosts("a"))] == ["a"]


def test_multiplier_options_map_to_nova_config_names_and_reject_typos():
    from berth.centralised.scheduler.weighing import multipliers
    assert multipliers(["ram=-1", "soft-anti-affinity=2.5"]) == {
        "ram_weight_multiplier": -1.0, "soft_anti_affinity_weight_multiplier": 2.5}
    for bad in ("rem=1", "ram", "ram=lots"):
        try:
            multipliers([bad])
        except ValueError as err:
            assert bad in str(err)
        else:
            raise AssertionError(f"{bad} accepted")
