"""Proven bounds: the allocation upper bound and the vector-bin-packing lower bounds.

Small cases are checked against brute force (the bound is never below the true optimum, and
the device cuts make it strictly stronger than the volume argument); on the real trace every
FGD-experiment policy's curve must lie under the bound curve of the same seed.
"""

import itertools

import numpy as np
import pytest

from berth.engine import Engine, Snapshot
from berth.engine.optimal.aggregate import aggregate
from berth.engine.optimal.binpacking import configuration_bound, volume_bound
from berth.engine.optimal.bounds import AllocationModel, dff
from berth.model import GPU, AntiAffinity
from berth.sim.bound import bound_curve
from berth.sim.fgd import FGD_POLICIES, run_experiment
from tests.conftest import node, pod


def _gpu_bound(nodes, pods):
    snap = Snapshot(nodes)
    agg = aggregate(snap, pods)
    weights = np.array([t.example.requests[GPU] for t in agg.types], float)
    return AllocationModel(agg, weights).solve().bound


def _brute_force(nodes, pods):
    """Best GPU total over every assignment (node or skipped), placing in order with the engine."""
    best = 0
    for choice in itertools.product(range(len(nodes) + 1), repeat=len(pods)):
        engine = Engine(nodes, "best-fit")
        total = 0
        for p, where in zip(pods, choice):
            if where == len(nodes):
                continue
            engine.snapshot  # place on the chosen node only, by restricting the candidate set
            row = where
            ok, _ = engine.cache.evaluate(p)
            if not ok[row]:
                break
            devices = engine.policy.devices.pick(engine.snapshot, p, row, engine.rng) if p.gpu_count else ()
            engine.snapshot.assign(row, p, devices)
            total += p.requests[GPU]
        else:
            best = max(best, total)
    return best


def test_dff_is_dual_feasible_on_a_grid():
    for k in (1, 2, 3, 4, 5):
        for a, b in itertools.product(range(0, 1001, 10), repeat=2):
            if a + b <= 1000:
                assert dff(k, a) + dff(k, b) + dff(k, 1000 - a - b) <= 1 + 1e-12


def test_device_cuts_beat_volume_three_large_shares_on_two_devices():
    nodes = [node("a", cpu=64000, memory=65536, gpus=2, model="T4")]
    pods = [pod(f"p{i}", gpu=600) for i in range(3)]
    assert _gpu_bound(nodes, pods) == 1200          # volume alone would allow 1800


def test_bound_never_below_brute_force_on_small_random_cases():
    rng = np.random.default_rng(7)
    for case in range(25):
        nodes = [node(f"n{i}", cpu=int(rng.choice([2000, 4000])), memory=8192, gpus=int(rng.integers(1, 3)),
                      model="T4") for i in range(2)]
        shares = [int(rng.choice([200, 300, 450, 600, 800, 1000, 2000])) for _ in range(4)]
        pods = [pod(f"p{i}", cpu=int(rng.choice([500, 1500])), gpu=g) for i, g in enumerate(shares)]
        assert _gpu_bound(nodes, pods) >= _brute_force(nodes, pods), case


def test_anti_affinity_caps_members_per_node():
    nodes = [node("a", gpus=4, model="T4"), node("b", gpus=4, model="T4")]
    pods = [pod(f"p{i}", gpu=1000, anti_affinity=(AntiAffinity("g"),)) for i in range(4)]
    assert _gpu_bound(nodes, pods) == 2000


def test_volume_and_configuration_bounds():
    # three items of 60 in bins of 100: the volume bound says 2, the configuration LP proves 3
    result = configuration_bound(np.array([[60]]), np.array([3]), np.array([[100]]), np.array([10]))
    assert result.volume == 2 and result.configuration == 3 and result.converged
    # two-dimensional items that each fill one dimension: volume 2, three bins needed
    sizes = np.array([[60, 10], [10, 60], [45, 45]])
    assert volume_bound(sizes, np.array([1, 1, 2]), np.array([[100, 100]]), np.array([5])) == 2
    assert configuration_bound(sizes, np.array([1, 1, 2]), np.array([[100, 100]]), np.array([5])).best >= 2


def test_bound_curve_matches_recorded_levels_and_is_monotone(data_dir):
    run = bound_curve("default", 42, data_dir)
    assert np.all(np.diff(run.bound) >= -1e-9)
    assert np.all(run.bound <= run.arrived + 1e-9)
    assert run.bound[130] <= 100.0 + 1e-9
    assert run.bound[100] < 99.0       # the device cuts bind well before the cluster is full


@pytest.mark.parametrize("seed", [42])
def test_every_policy_curve_lies_under_the_bound(data_dir, seed):
    from berth.engine import POLICIES

    policies = list(FGD_POLICIES) + [p for p in POLICIES if p.startswith("fgd-")]
    bound = bound_curve("default", seed, data_dir).bound
    experiment = run_experiment("default", policies, [seed], data_dir, workers=2)
    for run in experiment.runs:
        excess = run.curve - bound
        assert excess.max() <= 1e-9, (run.policy, int(excess.argmax()), float(excess.max()))
    # the levels line up: where a policy placed everything, its curve is the arrived demand = bound
    assert max(run.curve[60] for run in experiment.runs) == pytest.approx(bound[60])
