"""The GPU-sharing experiment of the FGD paper, on the engine, with the authors' protocol.

Protocol (`shared/data/README.md`): the cluster is the 1,213 GPU nodes, each renamed with a
seeded random `NNNN-` prefix as the authors' simulator does (so name tie-breaks are random per
seed, not fixed); the trace's pods are shuffled by the seed, then resampled until their GPU
requests reach `tune` (130%) of the cluster's GPU capacity; they are placed one at a time and
never leave; a pod that fits nowhere is skipped.  After each 1% of arrived GPU demand the share
of GPU capacity allocated is recorded.  The engine is built with `moves=True`, so a policy with a
repair (`fgd-repair`) may move placed pods to make room; each `Run` counts the moves.
`run_curve` does one (policy, seed); `run_experiment` fans the grid out over processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from berth.engine import Engine, PolicyContext
from berth.engine.tuning import for_decisions
from berth.model import GPU, Workload
from berth.sim.published import LEVELS
from berth.sim.trace import load_nodes, load_pods, node_list_path, pod_trace_path
from berth.sim.workload import demand_mix, prefix_node_names, prepare_arrivals

FGD_POLICIES = ("random", "dot-product", "gpu-clustering", "gpu-packing", "best-fit", "fgd")


@dataclass(frozen=True)
class Run:
    """One (trace, policy, seed) result: allocation % of GPU capacity at each arrival level."""

    trace: str
    policy: str
    seed: int
    curve: np.ndarray
    placed: int
    failed: int
    seconds: float
    moves: int = 0
    """Placed pods the policy's repair moved (0 for policies without one)."""


def allocation_curve(engine: Engine, arrivals: list[Workload]) -> tuple[np.ndarray, int, int]:
    """Place `arrivals` in order; return (allocation % at arrival 0..130%, pods placed, moves)."""
    capacity = engine.snapshot.gpu_capacity()
    curve = np.zeros(LEVELS)
    arrived = allocated = placed = moves = 0
    level = 1
    for workload in arrivals:
        gpu = workload.requests[GPU]
        arrived += gpu
        decision = engine.place(workload)
        if decision.ok:
            allocated += gpu
            placed += 1
            moves += len(decision.moved)
        while level < LEVELS and arrived * 100 >= level * capacity:
            curve[level] = 100.0 * allocated / capacity
            level += 1
    curve[level:] = 100.0 * allocated / capacity
    return curve, placed, moves


def run_curve(trace: str, policy: str, seed: int, data_dir: Path | None = None, tune: float = 1.3,
              nodes: Path | None = None) -> Run:
    """One experiment run: load the trace, prepare arrivals for `seed`, place them under `policy`."""
    started = time.perf_counter()
    for_decisions()
    cluster = prefix_node_names(load_nodes(nodes or node_list_path(data_dir)), seed)
    pods = load_pods(pod_trace_path(trace, data_dir))
    capacity = sum(n.gpus for n in cluster) * 1000
    arrivals = prepare_arrivals(pods, seed, tune, capacity)
    context = PolicyContext(mix=demand_mix(pods))
    engine = Engine(cluster, policy, seed=seed, context=context, moves=True)
    curve, placed, moves = allocation_curve(engine, arrivals)
    return Run(trace, policy, seed, curve, placed, len(arrivals) - placed, time.perf_counter() - started, moves)


@dataclass
class Experiment:
    """The grid of runs and their results."""

    trace: str
    policies: list[str]
    seeds: list[int]
    runs: list[Run] = field(default_factory=list)

    def mean_curve(self, policy: str) -> np.ndarray:
        return np.mean([r.curve for r in self.runs if r.policy == policy], axis=0)


def run_experiment(trace: str, policies: list[str], seeds: list[int], data_dir: Path | None = None,
                   workers: int | None = None, progress: Callable[[Run], None] = lambda run: None,
                   nodes: Path | None = None) -> Experiment:
    """Run every (policy, seed) across `workers` processes (default: every core)."""
    experiment = Experiment(trace, list(policies), list(seeds))
    grid = [(trace, p, s) for p in policies for s in seeds]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(grid) == 1:
        for args in grid:
            experiment.runs.append(run_curve(*args, data_dir=data_dir, nodes=nodes))
            progress(experiment.runs[-1])
        return experiment
    with ProcessPoolExecutor(max_workers=min(workers, len(grid))) as pool:
        futures = [pool.submit(run_curve, *args, data_dir=data_dir, nodes=nodes) for args in grid]
        for future in as_completed(futures):
            experiment.runs.append(future.result())
            progress(experiment.runs[-1])
    experiment.runs.sort(key=lambda r: (policies.index(r.policy), r.seed))
    return experiment


__all__ = ["FGD_POLICIES", "Experiment", "Run", "allocation_curve", "run_curve", "run_experiment"]
