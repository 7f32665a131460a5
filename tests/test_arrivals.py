"""Experiment set-up: the seeded node-name prefixes and the arrival sequence of the FGD protocol."""

from berth.model import GPU
from berth.sim.trace import TracePod
from berth.sim.workload import prefix_node_names, prepare_arrivals
from tests.conftest import node, pod


def _cluster(n: int):
    return [node(f"n{i:03d}", gpus=1, model="T4") for i in range(n)]


def test_prefixes_are_a_seeded_permutation_of_the_sorted_names():
    first = prefix_node_names(_cluster(50), seed=42)
    again = prefix_node_names(_cluster(50)[::-1], seed=42)
    other = prefix_node_names(_cluster(50), seed=43)
    assert [n.name for n in first] == [n.name for n in again]
    assert sorted(int(n.name[:4]) for n in first) == list(range(50))
    assert [n.name[5:] for n in first] == [f"n{i:03d}" for i in range(50)]
    assert [n.name for n in first] != [n.name for n in other]


def test_smallest_prefixed_name_is_not_always_the_same_node():
    winners = {min(prefix_node_names(_cluster(20), seed=s), key=lambda n: n.name).name[5:] for s in range(10)}
    assert len(winners) > 3


def test_arrivals_reach_the_tuned_gpu_demand_and_keep_the_shuffled_trace_first():
    pods = [TracePod(pod(f"p{i}", gpu=500), 1, 500, ()) for i in range(10)]
    arrivals = prepare_arrivals(pods, seed=1, tune=1.3, capacity=10_000)
    assert sum(w.requests[GPU] for w in arrivals) >= 13_000
    assert sorted(w.name for w in arrivals[:10]) == sorted(p.workload.name for p in pods)
    assert all("-r" in w.name for w in arrivals[10:])
