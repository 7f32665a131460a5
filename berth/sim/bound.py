"""The FGD experiment's upper-bound curve: what any placement of the arrived pods could allocate.

For one (trace, seed) the arrivals are prepared exactly as `berth.sim.fgd.run_curve` prepares
them, so level k's pod set is the same prefix every policy saw when its curve was recorded at
level k.  For each level the relaxation of `berth.engine.optimal.bounds` is solved with the
prefix's per-type counts (pods without GPUs are dropped: they add nothing to the objective and
only take capacity).  Bounds only grow with the prefix, so levels are solved from 130% down until
the bound equals the arrived demand; every lower level is then bounded by its arrived demand
(which no policy can exceed).  `bound_curves` fans seeds out over processes; `gaps` reports each
policy's distance to the bound in percentage points.  Called by `berth experiment fgd --bound`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from berth.engine import Snapshot
from berth.engine.optimal.aggregate import aggregate, type_key
from berth.engine.optimal.bounds import AllocationModel
from berth.model import GPU, Workload
from berth.sim.published import LEVELS
from berth.sim.trace import load_nodes, load_pods, node_list_path, pod_trace_path
from berth.sim.workload import prepare_arrivals


@dataclass(frozen=True)
class BoundRun:
    """Per level: the proven upper bound on allocation % and the arrived demand %, for one seed."""

    trace: str
    seed: int
    bound: np.ndarray
    arrived: np.ndarray
    solves: int
    seconds: float


def level_prefixes(arrivals: list[Workload], capacity: int) -> np.ndarray:
    """For each level 0..130, how many arrivals had come when the curve recorded that level.

    Mirrors `berth.sim.fgd.allocation_curve`: level k is recorded right after the arrival that
    brings the arrived demand to k% of capacity; levels never reached record the final state.
    """
    ends = np.full(LEVELS, len(arrivals))
    ends[0] = 0
    arrived, level = 0, 1
    for i, w in enumerate(arrivals):
        arrived += w.requests[GPU]
        while level < LEVELS and arrived * 100 >= level * capacity:
            ends[level] = i + 1
            level += 1
    return ends


def bound_curve(trace: str, seed: int, data_dir: Path | None = None, tune: float = 1.3,
                nodes: Path | None = None, time_limit: float = 20.0) -> BoundRun:
    """The upper-bound curve (allocation % of GPU capacity) for one seed's arrivals."""
    started = time.perf_counter()
    cluster = load_nodes(nodes or node_list_path(data_dir))
    pods = load_pods(pod_trace_path(trace, data_dir))
    snap = Snapshot(cluster)
    capacity = snap.gpu_capacity()
    arrivals = prepare_arrivals(pods, seed, tune, capacity)
    ends = level_prefixes(arrivals, capacity)
    gpu_pods = [(i, w) for i, w in enumerate(arrivals) if w.requests[GPU]]
    agg = aggregate(snap, [w for _, w in gpu_pods])
    index = {type_key(t.example): k for k, t in enumerate(agg.types)}
    which = np.array([index[type_key(w)] for _, w in gpu_pods])
    position = np.array([i for i, _ in gpu_pods])
    weights = np.array([t.example.requests[GPU] for t in agg.types], float)
    model = AllocationModel(agg, weights)
    demand = np.cumsum([0] + [w.requests[GPU] for w in arrivals])
    arrived = 100.0 * demand[ends] / capacity
    bound = arrived.copy()
    solves = 0
    for level in range(LEVELS - 1, 0, -1):
        counts = np.bincount(which[position < ends[level]], minlength=len(agg.types))
        result = model.solve(counts, time_limit)
        solves += 1
        bound[level] = min(arrived[level], 100.0 * result.bound / capacity)
        if bound[level] >= arrived[level] - 1e-12:
            break
    return BoundRun(trace, seed, bound, arrived, solves, time.perf_counter() - started)


def bound_curves(trace: str, seeds: list[int], data_dir: Path | None = None, workers: int | None = None,
                 nodes: Path | None = None, progress: Callable[[BoundRun], None] = lambda run: None) -> list[BoundRun]:
    """`bound_curve` for every seed, over `workers` processes (default: every core)."""
    workers = min(workers or os.cpu_count() or 1, len(seeds))
    if workers <= 1:
        runs = []
        for seed in seeds:
            runs.append(bound_curve(trace, seed, data_dir, nodes=nodes))
            progress(runs[-1])
        return runs
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(bound_curve, trace, s, data_dir, nodes=nodes) for s in seeds]
        runs = []
        for future in futures:
            runs.append(future.result())
            progress(runs[-1])
    return runs


def gaps(bounds: list[BoundRun], curves: dict[str, dict[int, np.ndarray]], levels) -> dict[str, dict[int, float]]:
    """Per policy and level: mean over seeds of (bound - policy) in percentage points."""
    by_seed = {b.seed: b.bound for b in bounds}
    out: dict[str, dict[int, float]] = {}
    for policy, per_seed in curves.items():
        seeds = [s for s in per_seed if s in by_seed]
        out[policy] = {lvl: float(np.mean([by_seed[s][lvl] - per_seed[s][lvl] for s in seeds])) for lvl in levels}
    return out


def mean_bound(bounds: list[BoundRun]) -> np.ndarray:
    """The bound curve averaged over seeds."""
    return np.mean([b.bound for b in bounds], axis=0)


__all__ = ["BoundRun", "bound_curve", "bound_curves", "gaps", "level_prefixes", "mean_bound"]
