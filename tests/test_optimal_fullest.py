"""The fullest-node construction: placements that are valid and keep every workload, never fewer
new nodes than exhaustive search allows, and the packing a greedy in arrival order misses."""

import random
import time

import pytest

from berth.engine import Engine
from berth.engine.optimal.aggregate import aggregate
from berth.engine.optimal.batch import priority_weight, run_heuristic
from berth.engine.optimal.compact import CompactModel, prove
from berth.engine.optimal.fullest import fullest_first
from tests.conftest import node, pod
from tests.test_optimal_compact import _brute_force


def _instance(seed: int):
    """Three nodes and six pods that mostly fit whole (the construction's case)."""
    rng = random.Random(seed)
    nodes = [node(f"n{i}", cpu=rng.choice([6000, 8000]), memory=16384, gpus=2, model="T4") for i in range(3)]
    pods = [pod(f"p{i}", cpu=rng.choice([1000, 2000, 3000]), gpu=rng.choice([0, 250, 500, 700, 1000]))
            for i in range(6)]
    return nodes, pods


def _model(nodes, pods):
    snap = Engine(nodes, "best-fit").snapshot
    agg = aggregate(snap, pods)
    return snap, CompactModel(snap, agg, [priority_weight(t.example) for t in agg.types])


def _check_valid(snap, pods, assignment):
    for i, (row, devices) in assignment.items():
        snap.assign(row, pods[i], devices)
    assert (snap.free >= 0).all() and (snap.gpu_free >= 0).all()


def test_fullest_first_packs_what_best_fit_in_arrival_order_spreads():
    nodes = [node(f"n{i}", cpu=10000, memory=65536) for i in range(4)]
    pods = [pod("a", cpu=4000), pod("b", cpu=5000), pod("c", cpu=5000), pod("d", cpu=6000)]
    snap, model = _model(nodes, pods)
    greedy = run_heuristic(snap, pods, "best-fit", None)
    assert len({row for row, _ in greedy.values()}) == 3               # 4+5, 5, 6
    found = fullest_first(model, target=2, deadline=time.perf_counter() + 20)
    assert found is not None
    assignment, new = found
    assert new == 2 and set(assignment) == {0, 1, 2, 3}
    assert len({row for row, _ in assignment.values()}) == 2           # 4+6 and 5+5
    _check_valid(snap, pods, assignment)


@pytest.mark.parametrize("seed", range(6))
def test_fullest_first_is_valid_and_never_beats_exhaustive_search(seed):
    nodes, pods = _instance(seed)
    weight, fewest = _brute_force(nodes, pods)
    if weight < sum(map(priority_weight, pods)):
        pytest.skip("not every pod fits: the construction is for batches that fit whole")
    snap, model = _model(nodes, pods)
    found = fullest_first(model, target=fewest, deadline=time.perf_counter() + 3)
    assert found is not None
    assignment, new = found
    assert set(assignment) == set(range(len(pods)))
    assert new == sum(1 for r in {row for row, _ in assignment.values()} if snap.is_empty(r))
    assert new >= fewest
    _check_valid(snap, pods, assignment)


def test_prove_meets_the_volume_bound_on_an_exact_partition_and_says_so():
    nodes = [node(f"n{i}", cpu=10000, memory=65536, gpus=2, model="T4") for i in range(5)]
    pods = [pod(f"p{i}", cpu=c, gpu=g) for i, (c, g) in
            enumerate([(4000, 600), (5000, 400), (5000, 600), (6000, 400), (3000, 1000), (7000, 1000)])]
    snap, model = _model(nodes, pods)
    spread = run_heuristic(snap, pods, "best-fit", None)
    proof = prove(snap, model.agg, [1] * len(model.agg.types), spread, float(len(pods)), "nodes",
                  time.perf_counter() + 20)
    assert proof is not None and proof.optimal
    assert proof.nodes == proof.nodes_bound == 3                        # 30,000 milli-CPU on 10,000 nodes
    _check_valid(snap, pods, proof.assignment)


def test_every_row_needed_is_proven_by_lp_when_the_batch_does_not_fit():
    from berth.engine.optimal.compact import _every_row_needed

    nodes = [node(f"n{i}", cpu=4000, memory=65536, gpus=1, model="T4") for i in range(3)]
    pods = [pod(f"p{i}", cpu=2500, gpu=300) for i in range(5)]         # one per node: 3 of 5
    weight, fewest = _brute_force(nodes, pods)
    assert (weight, fewest) == (3, 3)
    snap, model = _model(nodes, pods)
    assert _every_row_needed(model, 3, time.perf_counter() + 20)
    assert not _every_row_needed(model, 2, time.perf_counter() + 20)  # two pods fit on two nodes
    proof = prove(snap, model.agg, [1], {}, 5.0, "nodes", time.perf_counter() + 20)
    assert proof is not None and proof.optimal
    assert (proof.weight, proof.nodes, proof.nodes_bound) == (3, 3, 3.0)
    _check_valid(snap, pods, proof.assignment)
