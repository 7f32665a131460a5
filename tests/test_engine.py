"""The placement engine: filters, scorers, reasons as data, release, and the score cache."""

import numpy as np
import pytest

from berth.engine import DemandClass, Engine, Placement, PolicyContext, Unschedulable
from berth.model import AntiAffinity, Node, Resources, Taint, Toleration, ValidationError, Workload
from berth.model.constraints import LabelRequirement, TaintEffect
from berth.model.workload import gpu_model_selector
from tests.conftest import node, pod


def test_least_allocated_spreads_and_most_allocated_packs():
    nodes = [node("a"), node("b")]
    spread = Engine(nodes, "kube-default")
    assert {spread.place(pod(f"p{i}", cpu=1000)).node for i in range(2)} == {"a", "b"}
    pack = Engine(nodes, "most-allocated")
    assert len({pack.place(pod(f"p{i}", cpu=1000)).node for i in range(2)}) == 1


def test_gpu_shares_are_tracked_per_device():
    engine = Engine([node("g", gpus=2, model="T4")], "kube-default")
    first, second = engine.place(pod("a", gpu=600)), engine.place(pod("b", gpu=600))
    assert first.devices != second.devices
    third = engine.place(pod("c", gpu=600))
    assert isinstance(third, Unschedulable)
    assert third.message == "0/1 nodes are available: 1 Insufficient gpu."
    assert engine.place(pod("d", gpu=400)).ok
    assert engine.snapshot.gpu_allocated() == 1600


def test_whole_gpus_need_wholly_free_devices():
    engine = Engine([node("g", gpus=2)], "kube-default")
    assert engine.place(pod("share", gpu=100)).ok
    assert not engine.place(pod("two", gpu=2000)).ok
    engine.release("share")
    assert engine.place(pod("two", gpu=2000)).devices == (0, 1)


def test_reasons_are_counted_per_first_failing_filter_and_sorted_like_upstream():
    nodes = [node("t", taints=(Taint("dedicated", "infra"),)), node("small", cpu=100),
             node("p100", gpus=1, model="P100")]
    result = Engine(nodes, "kube-default").place(pod("x", cpu=2000, gpu=1000,
                                                     node_selector=gpu_model_selector(("T4",))))
    assert isinstance(result, Unschedulable)
    assert result.reasons == {"node(s) didn't match Pod's node affinity/selector": 3}
    result = Engine(nodes, "kube-default").place(pod("y", cpu=5000))
    assert result.message == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                              "{dedicated: infra}, 2 Insufficient cpu.")


def test_tolerations_open_tainted_nodes():
    engine = Engine([node("t", taints=(Taint("dedicated", "infra"),))], "kube-default")
    assert not engine.place(pod("a")).ok
    assert engine.place(pod("b", tolerations=(Toleration("dedicated", "Equal", "infra"),))).ok


def test_prefer_no_schedule_is_avoided_when_possible():
    soft = Taint("spot", "", TaintEffect.PREFER_NO_SCHEDULE)
    engine = Engine([node("spot", taints=(soft,)), node("plain")], "kube-default")
    assert engine.place(pod("a")).node == "plain"


def test_anti_affinity_by_node_and_by_zone():
    group = (AntiAffinity("web"),)
    engine = Engine([node("a"), node("b")], "kube-default")
    assert {engine.place(pod(f"w{i}", anti_affinity=group)).node for i in range(2)} == {"a", "b"}
    third = engine.place(pod("w3", anti_affinity=group))
    assert third.reasons == {"node(s) didn't match pod anti-affinity rules": 2}
    zoned = Engine([node("a", zone="z1"), node("b", zone="z1"), node("c", zone="z2")], "kube-default")
    zone_group = (AntiAffinity("db", "zone"),)
    first = zoned.place(pod("d1", anti_affinity=zone_group))
    second = zoned.place(pod("d2", anti_affinity=zone_group))
    zone = {"a": "z1", "b": "z1", "c": "z2"}
    assert zone[first.node] != zone[second.node]
    assert not zoned.place(pod("d3", anti_affinity=zone_group)).ok


def test_release_returns_resources_and_unknown_names_are_reported():
    engine = Engine([node("a", cpu=1000)], "kube-default")
    assert engine.place(pod("big", cpu=1000)).ok
    assert not engine.place(pod("more", cpu=1000)).ok
    assert engine.release("big") and not engine.release("big")
    assert engine.place(pod("more", cpu=1000)).ok


def test_unknown_resource_in_the_cluster_is_insufficient_everywhere():
    result = Engine([node("a")], "kube-default").place(Workload("x", {"example.com/fpga": 1}))
    assert result.reasons == {"Insufficient example.com/fpga": 1}


def test_nova_default_spreads_by_free_ram_and_breaks_ties_by_host_order():
    engine = Engine([node("a"), node("b"), node("c")], "nova-default")
    assert engine.place(pod("one")).node == "a"
    assert engine.place(pod("two")).node == "b"


def test_unknown_policy_is_a_validation_error():
    with pytest.raises(ValidationError, match="unknown policy 'nope'"):
        Engine([node("a")], "nope")


@pytest.mark.parametrize("policy", ["kube-default", "most-allocated", "nova-default"])
def test_score_cache_gives_exactly_the_full_evaluation(policy):
    rng = np.random.default_rng(7)
    nodes = [node(f"n{i}", cpu=int(rng.integers(2, 9)) * 1000, memory=int(rng.integers(4, 33)) * 1024,
                  gpus=int(rng.integers(0, 3)), zone=f"z{i % 3}") for i in range(40)]
    shapes = [dict(cpu=250, memory=512), dict(cpu=1000, memory=2048, gpu=500), dict(cpu=500, memory=256, gpu=1000),
              dict(cpu=100, memory=100, anti_affinity=(AntiAffinity("g", "zone"),))]
    cached, full = Engine(nodes, policy, seed=3), Engine(nodes, policy, seed=3, cache=False)
    for i in range(300):
        w = pod(f"p{i}", **shapes[int(rng.integers(len(shapes)))])
        a, b = cached.place(w), full.place(w)
        assert a == b
        if i % 5 == 4:
            victim = f"p{int(rng.integers(i))}"
            assert cached.release(victim) == full.release(victim)


@pytest.mark.parametrize("policy", ["kube-default", "most-allocated", "nova-default", "best-fit", "gpu-packing"])
def test_tracked_tie_set_gives_exactly_the_full_evaluation_on_identical_nodes(policy):
    # Identical nodes tie on every score, so each decision exercises the cached tie set: a chosen
    # row leaves it, a release brings it back level with (or above) the rest, a full node drops out.
    rng = np.random.default_rng(11)
    nodes = [node(f"n{i:02d}", cpu=2000, memory=4096, gpus=1) for i in range(24)]
    shapes = [dict(cpu=500, memory=512), dict(cpu=250, memory=1024, gpu=250), dict(cpu=1000, memory=256)]
    cached, full = Engine(nodes, policy, seed=5), Engine(nodes, policy, seed=5, cache=False)
    for i in range(400):
        w = pod(f"p{i}", **shapes[int(rng.integers(len(shapes)))])
        assert cached.place(w) == full.place(w)
        if i % 3 == 2:
            victim = f"p{int(rng.integers(i))}"
            assert cached.release(victim) == full.release(victim)
    assert cached.snapshot.used.tolist() == full.snapshot.used.tolist()


def test_tie_set_follows_a_row_that_leaves_and_rejoins_the_top():
    engine = Engine([node("a"), node("b"), node("c")], "kube-default", seed=2)
    w = pod("probe", cpu=500)

    def ties_and_scan():
        _, total, ties = engine.cache.best(w)
        return ties.tolist(), np.flatnonzero(total == total.max()).tolist()

    assert ties_and_scan() == ([0, 1, 2], [0, 1, 2])
    assert engine.place(pod("p1", cpu=1000)).ok
    ties, scan = ties_and_scan()          # one row moved down: it leaves the tie set
    assert ties == scan and len(ties) == 2
    engine.release("p1")
    assert ties_and_scan() == ([0, 1, 2], [0, 1, 2])   # it rose back level: it rejoins in order
    engine.place(pod("p2", cpu=1000))
    engine.place(pod("p3", cpu=1000))
    ties, scan = ties_and_scan()
    assert ties == scan and len(ties) == 1


@pytest.mark.parametrize("policy", ["kube-default", "most-allocated", "nova-default", "best-fit", "fgd-lookahead"])
def test_untouched_nodes_alike_score_through_one_stand_in_exactly_as_evaluated_one_by_one(policy):
    # 160 nodes of four specs: a first pass scores one untouched node per spec for the rest, and
    # must give what scoring every node gives; a hostname selector still finds its one node.
    specs = [dict(cpu=8000, memory=16384, gpus=4, model="T4", zone="a"), dict(cpu=8000, memory=16384, gpus=4,
             model="T4", zone="b"), dict(cpu=32000, memory=65536, gpus=8, model="A10", zone="a"),
             dict(cpu=4000, memory=8192, taints=(Taint("dedicated", "x", TaintEffect.NO_SCHEDULE),))]
    nodes = [node(f"n{i:03d}", **specs[i % 4]) for i in range(160)]
    rng = np.random.default_rng(9)
    cached, full = (Engine(nodes, policy, seed=2, context=GPU_MIX, cache=c) for c in (True, False))
    stand_ins, spread = cached.snapshot.alike(np.arange(160))
    assert len(stand_ins) == 4 and np.array_equal(cached.snapshot.node_class[stand_ins[spread]],
                                                  cached.snapshot.node_class)
    for i in range(240):
        kind = int(rng.integers(5))
        selector = (LabelRequirement("kubernetes.io/hostname", "In", (f"n{i % 160:03d}",)),) if kind == 4 else ()
        w = pod(f"w{i}", cpu=int(rng.integers(1, 5)) * 500, memory=512, gpu=int(rng.choice([0, 250, 470, 1000])),
                node_selector=selector, anti_affinity=(AntiAffinity("g", "zone"),) if kind == 3 else ())
        a, b = cached.place(w), full.place(w)
        assert a == b
        if selector and a.ok:
            assert a.node == f"n{i % 160:03d}"
    assert cached.snapshot.used.tolist() == full.snapshot.used.tolist()


GPU_MIX = PolicyContext((DemandClass(1000, 1, 300, (), 1), DemandClass(4000, 1, 500, (), 1),
                         DemandClass(2000, 1, 1000, (), 2), DemandClass(16000, 1, 0, (), 1)))


@pytest.mark.parametrize("policy", ["fgd", "fgd-ss", "fgd-strand", "fgd-lookahead"])
def test_mix_policies_give_exactly_the_full_evaluation(policy):
    rng = np.random.default_rng(4)
    nodes = [node(f"n{i}", cpu=int(rng.choice([16000, 64000])), memory=10**6, gpus=4, model="T4")
             for i in range(8)]
    cached, full = (Engine(nodes, policy, context=GPU_MIX, cache=c) for c in (True, False))
    for i in range(80):
        w = pod(f"w{i}", cpu=int(rng.integers(1, 9)) * 1000, memory=1024,
                gpu=int(rng.choice([0, 230, 300, 470, 500, 810, 1000, 2000])))
        assert cached.place(w) == full.place(w)
    assert cached.snapshot.gpu_allocated() > 0


def test_kube_resource_scores_follow_upstreams_integer_arithmetic():
    from berth.engine.scorers.kube import BalancedAllocation, LeastAllocated, MostAllocated

    engine = Engine([node("a", cpu=4000, memory=8192), node("b", cpu=2000, memory=1000)], "kube-default")
    assert engine.place(pod("load", cpu=1000, memory=6000)).node == "a"
    snap, rows = engine.snapshot, np.array([0, 1])
    w = pod("w", cpu=500, memory=0)  # no memory request: scored as upstream's non-zero 200 MiB
    # a: requested cpu 1500/4000, memory 6200/8192; b: cpu 500/2000, memory 200/1000
    assert LeastAllocated().score(snap, w, rows).tolist() == [(62 + 24) // 2, (75 + 80) // 2]
    assert MostAllocated().score(snap, w, rows).tolist() == [(37 + 75) // 2, (25 + 20) // 2]
    balanced = [int((1 - abs(1500 / 4000 - 6200 / 8192) / 2) * 100), int((1 - abs(500 / 2000 - 200 / 1000) / 2) * 100)]
    assert BalancedAllocation().score(snap, w, rows).tolist() == balanced == [80, 97]


def test_one_row_forms_equal_the_vector_forms_on_every_row():
    # Random nodes (some overcommitted, tainted, labelled, in anti-affinity groups) and random
    # workloads: each plugin's `fits` / `score_row` must give exactly its vector answer per row.
    from berth.engine.filters import FILTERS
    from berth.engine.scorers.kube import KUBE_SCORERS
    from berth.engine.scorers.nova import NOVA_SCORERS

    rng = np.random.default_rng(13)
    taints = [(), (Taint("k", "v", TaintEffect.NO_SCHEDULE),), (Taint("s", "", TaintEffect.PREFER_NO_SCHEDULE),)]
    nodes = [Node(f"n{i}", Resources.of(cpu=int(rng.integers(0, 9)) * 500, memory=int(rng.integers(0, 17)) * 512,
                                        pods=int(rng.choice([0, 2, 110]))),
                  gpus=int(rng.integers(0, 3)), gpu_model=str(rng.choice(["T4", "V100"])), zone=f"z{i % 3}",
                  taints=taints[i % 3]) for i in range(60)]
    engine = Engine(nodes, "kube-default", seed=1)
    group = (AntiAffinity("g", "node"),)
    for i in range(120):
        row = int(rng.integers(len(nodes)))
        share = int(rng.choice([0, 300, 750])) if nodes[row].gpus else 0
        w = pod(f"load{i}", cpu=int(rng.integers(0, 1500)), memory=int(rng.integers(0, 3000)), gpu=share,
                anti_affinity=group if i % 7 == 0 else ())
        engine.snapshot.assign(row, w, (0,) if share else ())   # unchecked: rows may go over capacity
    snap, rows = engine.snapshot, np.arange(len(nodes))
    filters = [make() for make in FILTERS.values()]
    scorers = [make(None, {}) for make in {**KUBE_SCORERS, **NOVA_SCORERS}.values()]
    verdicts = {f.name: set() for f in filters}
    for i in range(40):
        w = pod(f"w{i}", cpu=int(rng.integers(0, 2000)), memory=int(rng.integers(0, 4000)),
                gpu=int(rng.choice([0, 250, 1000, 2000])), anti_affinity=group if i % 2 else (),
                node_selector=gpu_model_selector(["T4"]) if i % 3 == 0 else (),
                tolerations=(Toleration("k", "Equal", "v", TaintEffect.NO_SCHEDULE),) if i % 4 == 0 else ())
        for f in filters:
            by_row = [f.fits(snap, w, r) for r in rows]
            assert by_row == f.filter(snap, w, rows).tolist(), f.name
            verdicts[f.name] |= set(by_row)
        for s in scorers:
            by_row = [s.score_row(snap, w, r) for r in rows]
            assert by_row == s.score(snap, w, rows).tolist(), s.name
            assert all(type(v) in (int, float) for v in by_row), s.name
    assert all(seen == {True, False} for seen in verdicts.values()), verdicts
