"""The compact layout MIP and the configuration-LP bounds against exhaustive search on tiny
batches: the proven weight and node bounds hold, the placements are valid, and the batch solver
states optimality only when exhaustive search agrees."""

import itertools
import random
import time

import numpy as np
import pytest

from berth.engine import Engine
from berth.engine.optimal.aggregate import aggregate
from berth.engine.optimal.batch import place_batch, priority_weight
from berth.engine.optimal.columns import ColumnGeneration
from berth.engine.optimal.compact import CompactModel, prove
from berth.engine.optimal.layouts import layouts
from berth.model import GPU_WHOLE
from tests.conftest import node, pod


def test_layouts_are_the_maximal_fitting_multisets():
    assert sorted(layouts(1000, (600, 300), 100)) == [(0, 3), (1, 1)]
    for layout in layouts(1000, (470, 320, 160), 100):
        used = 470 * layout[0] + 320 * layout[1] + 160 * layout[2]
        assert used <= 1000 and 1000 - used < 160          # fits, and nothing more would
    assert layouts(1000, (70, 30, 20), 5) is None          # past the cap: the caller falls back


def _fits(n, items) -> bool:
    """Whether pods `items` fit node `n` (cpu, memory, each device), by exhaustive device choice."""
    cpu = sum(w.requests["cpu"] for w in items)
    mem = sum(w.requests["memory"] for w in items)
    if cpu > n.capacity["cpu"] or mem > n.capacity["memory"]:
        return False
    whole = sum(w.gpu_count for w in items if w.gpu_milli >= GPU_WHOLE)
    shares = [w.gpu_milli for w in items if 0 < w.gpu_milli < GPU_WHOLE]
    if whole > n.gpus:
        return False
    devices = n.gpus - whole
    for choice in itertools.product(range(devices), repeat=len(shares)):
        load = [0] * devices
        for d, m in zip(choice, shares):
            load[d] += m
        if max(load, default=0) <= GPU_WHOLE:
            return True
    return not shares


def _brute_force(nodes, pods):
    """Best (weight, -new nodes) over every assignment of pods to nodes or nowhere."""
    best = (-1, 0)
    for choice in itertools.product(range(len(nodes) + 1), repeat=len(pods)):
        per = [[p for p, c in zip(pods, choice) if c == k] for k in range(len(nodes))]
        if all(_fits(n, items) for n, items in zip(nodes, per) if items):
            weight = sum(priority_weight(p) for p, c in zip(pods, choice) if c < len(nodes))
            best = max(best, (weight, -sum(1 for items in per if items)))
    return best[0], -best[1]


def _instance(seed: int):
    rng = random.Random(seed)
    nodes = [node(f"n{i}", cpu=rng.choice([4000, 8000]), memory=16384, gpus=rng.choice([1, 2]), model="T4")
             for i in range(3)]
    gpus = [0, 250, 400, 500, 600, 700, 1000, 2000]
    pods = [pod(f"p{i}", cpu=rng.choice([1000, 2000, 3000]), gpu=rng.choice(gpus), priority=rng.choice([0, 0, 1]))
            for i in range(6)]
    return nodes, pods


def _solved_instance(seed):
    """A random small instance, its exhaustive optimum (weight, fewest new nodes) and its aggregate."""
    nodes, pods = _instance(seed)
    weight, fewest = _brute_force(nodes, pods)
    snap = Engine(nodes, "best-fit").snapshot
    agg = aggregate(snap, pods)
    return pods, weight, fewest, snap, agg, [priority_weight(t.example) for t in agg.types]


@pytest.mark.parametrize("seed", range(6))
def test_compact_model_matches_exhaustive_search(seed):
    pods, weight, fewest, snap, agg, weights = _solved_instance(seed)
    proof = prove(snap, agg, weights, {}, float(sum(map(priority_weight, pods))), "nodes", time.perf_counter() + 20)
    assert proof is not None and proof.optimal
    assert (proof.weight, proof.nodes) == (weight, fewest)
    assert proof.weight_bound == weight and proof.nodes_bound == fewest
    for i, (row, devices) in proof.assignment.items():
        snap.assign(row, pods[i], devices)
    assert (snap.free >= 0).all() and (snap.gpu_free >= 0).all()


@pytest.mark.parametrize("seed", range(6))
def test_configuration_lp_bounds_hold(seed):
    pods, weight, fewest, snap, agg, weights = _solved_instance(seed)
    weights = np.array(weights, float)
    cg = ColumnGeneration(snap, agg, weights, time.perf_counter() + 20)
    first = cg.run(1)
    assert first.converged and first.bound >= weight
    assert first.value is not None and first.value <= weight      # a placement, so at most the optimum
    second = cg.run(2, target=weight)
    assert second.bound <= fewest


def test_place_batch_states_optimal_on_an_empty_cluster_via_the_compact_model():
    nodes = [node(f"n{i}", cpu=16000, memory=65536, gpus=4, model="T4") for i in range(6)]
    rng = random.Random(7)
    pods = [pod(f"p{i}", cpu=rng.choice([2000, 4000, 6000]), gpu=rng.choice([300, 500, 700, 1000, 2000]))
            for i in range(30)]
    engine = Engine(nodes, "best-fit")
    result = place_batch(engine, pods, time_limit=20)
    assert result.method == "compact"
    assert result.status == "optimal" and result.gap == 0
    assert result.secondary_bound == result.secondary
    assert (engine.snapshot.free >= 0).all() and (engine.snapshot.gpu_free >= 0).all()
    assert result.weight >= result.heuristic_weight


def test_compact_model_declines_large_clusters():
    nodes = [node(f"n{i}", gpus=1, model="T4", cpu=4000 + i) for i in range(500)]   # 500 classes
    pods = [pod(f"p{i}", gpu=500) for i in range(450)]
    snap = Engine(nodes, "best-fit").snapshot
    assert not CompactModel(snap, aggregate(snap, pods), [1]).usable


def test_shrink_empties_nodes_and_keeps_every_workload():
    from berth.engine.optimal.shrink import shrink

    nodes = [node(f"n{i}", cpu=8000, memory=16384, gpus=2, model="T4") for i in range(4)]
    pods = [pod(f"p{i}", cpu=1000, gpu=500) for i in range(4)]
    snap = Engine(nodes, "best-fit").snapshot
    spread = {0: (0, (0,)), 1: (1, (0,)), 2: (2, (0,)), 3: (3, (1,))}      # one pod per node
    out = shrink(snap, pods, [1] * 4, spread, target=1, deadline=time.perf_counter() + 20)
    assert set(out) == set(spread)
    assert len({row for row, _ in out.values()}) == 1                      # all four fit one node
    for i, (row, devices) in out.items():
        snap.assign(row, pods[i], devices)
    assert (snap.free >= 0).all() and (snap.gpu_free >= 0).all()


def test_fill_repacks_to_place_what_was_left_out():
    from berth.engine.optimal.shrink import fill

    nodes = [node(f"n{i}", cpu=8000, memory=16384, gpus=1, model="T4") for i in range(2)]
    pods = [pod("a", gpu=400), pod("b", gpu=400), pod("c", gpu=600), pod("d", gpu=600)]
    snap = Engine(nodes, "best-fit").snapshot
    stuck = {0: (0, (0,)), 1: (1, (0,))}                 # the two 400s apart: no 600 fits anywhere
    out = fill(snap, pods, [1] * 4, stuck, [0, 1], target=4, deadline=time.perf_counter() + 20)
    assert set(out) == {0, 1, 2, 3}
    for i, (row, devices) in out.items():
        snap.assign(row, pods[i], devices)
    assert (snap.gpu_free >= 0).all() and (snap.gpu_free == 0).all()
