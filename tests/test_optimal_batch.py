"""Batch placement with CP-SAT: never worse than the heuristics, honours every filter, proves
optimality on small batches, reports per-workload reasons, and always returns something."""

import numpy as np
import pytest

from berth.engine import Engine
from berth.engine.optimal.aggregate import feasible_rows
from berth.engine.optimal.batch import place_batch
from berth.model import AntiAffinity, Taint, Toleration
from berth.model.workload import gpu_model_selector
from tests.conftest import node, pod


def _check_valid(engine):
    snap = engine.snapshot
    assert (snap.free >= 0).all() and (snap.gpu_free >= 0).all()
    for name, (row, w, devices) in engine.placed.items():
        assert len(set(devices)) == w.gpu_count


def test_solver_beats_first_fit_on_a_packing_trap():
    # best-fit puts the two 600s on one device each and strands the 800s; the solver pairs them
    nodes = [node(f"n{i}", cpu=64000, memory=65536, gpus=1, model="T4") for i in range(3)]
    pods = [pod("a1", gpu=400), pod("a2", gpu=400), pod("b1", gpu=600), pod("b2", gpu=600), pod("c1", gpu=1000)]
    engine = Engine(nodes, "best-fit")
    result = place_batch(engine, pods, time_limit=10, weight=lambda w: w.requests["gpu"])
    assert result.weight == 3000 and result.bound == 3000 and result.gap == 0
    assert result.weight >= result.heuristic_weight
    assert len(result.placements) == 5
    _check_valid(engine)


def test_small_batch_is_proven_optimal():
    nodes = [node(f"n{i}", cpu=8000, memory=16384, gpus=2, model="T4") for i in range(4)]
    pods = [pod(f"p{i}", cpu=1500, gpu=g) for i, g in enumerate([300, 700, 500, 500, 1000, 2000, 250, 750, 600, 400])]
    engine = Engine(nodes, "best-fit")
    result = place_batch(engine, pods, time_limit=10)
    assert result.status == "optimal", result.to_dict()
    assert result.gap == 0
    _check_valid(engine)


def test_infeasible_workloads_get_reasons_not_exceptions():
    nodes = [node("a", gpus=2, model="T4"), node("b", gpus=2, model="T4", taints=(Taint("dedicated", "x"),))]
    pods = [pod("huge", gpu=4000), pod("wrong-model", gpu=500, node_selector=gpu_model_selector(["V100"])),
            pod("ok", gpu=500)]
    engine = Engine(nodes, "best-fit")
    result = place_batch(engine, pods, time_limit=5)
    assert set(result.unschedulable) == {"huge", "wrong-model"}
    assert "Insufficient gpu" in result.unschedulable["huge"].message
    assert "node affinity" in result.unschedulable["wrong-model"].message
    assert result.placements["ok"].node == "a"            # the taint keeps it off b


def test_constraints_are_honoured():
    nodes = [node(f"n{i}", gpus=4, model="T4" if i % 2 else "V100", zone=f"z{i % 2}") for i in range(6)]
    nodes.append(node("tainted", gpus=8, model="T4", taints=(Taint("dedicated", "x"),)))
    group = (AntiAffinity("web"),)
    pods = [pod(f"w{i}", gpu=500, anti_affinity=group) for i in range(5)]
    pods += [pod(f"t{i}", gpu=1000, node_selector=gpu_model_selector(["T4"])) for i in range(6)]
    pods += [pod(f"tol{i}", gpu=1000, tolerations=(Toleration("dedicated", "Equal", "x"),)) for i in range(3)]
    engine = Engine(nodes, "best-fit")
    result = place_batch(engine, pods, time_limit=10)
    hosts = [result.placements[f"w{i}"].node for i in range(5) if f"w{i}" in result.placements]
    assert len(hosts) == len(set(hosts))
    for i in range(6):
        if f"t{i}" in result.placements:
            assert engine.snapshot.nodes[engine.snapshot.index[result.placements[f"t{i}"].node]].gpu_model == "T4"
    on_tainted = [n for n, p in result.placements.items() if p.node == "tainted"]
    assert all(n.startswith("tol") for n in on_tainted)
    _check_valid(engine)


def test_time_limited_solve_returns_a_placement_and_a_gap():
    rng = np.random.default_rng(3)
    nodes = [node(f"n{i}", cpu=16000, memory=65536, gpus=4, model="T4") for i in range(12)]
    pods = [pod(f"p{i}", cpu=int(rng.integers(1, 8)) * 1000, gpu=int(rng.choice([250, 470, 650, 810, 1000, 2000])))
            for i in range(120)]
    engine = Engine(nodes, "best-fit")
    result = place_batch(engine, pods, time_limit=0.5)
    assert result.placements and result.weight >= result.heuristic_weight
    assert result.bound >= result.weight and 0 <= result.gap < 1
    assert len(result.placements) + len(result.unschedulable) == len(pods)
    _check_valid(engine)


def test_rolling_horizon_for_long_queues_is_never_worse_than_the_heuristic():
    from berth.engine.optimal import batch

    nodes = [node(f"n{i}", cpu=32000, memory=65536, gpus=4, model="T4") for i in range(10)]
    pods = [pod(f"p{i}", cpu=2000, gpu=[330, 470, 810, 1000][i % 4]) for i in range(60)]
    engine = Engine(nodes, "best-fit")
    old = batch.CHUNK
    batch.CHUNK = 25
    try:
        result = place_batch(engine, pods, time_limit=6)
    finally:
        batch.CHUNK = old
    assert result.method == "rolling-horizon"
    assert result.weight >= result.heuristic_weight and result.bound >= result.weight
    _check_valid(engine)
    for name, placement in result.placements.items():
        assert placement.node in engine.snapshot.index
