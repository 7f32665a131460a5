"""Batch mode of the FGD experiment: the queue is placed K pods at a time with the batch solver.

The set-up is `berth.sim.fgd.run_curve`'s (same cluster with seeded name prefixes, same arrival
order, same workload mix); the difference is that every K consecutive arrivals are placed
jointly.  A batch sees its K pods (never later ones), so `batch_curve` first sorts them
(`ORDERS`); the online policy (`POLICY`) then places them in that order on the live engine (the
incumbent), and CP-SAT, warm-started from it, looks within `time_limit` for a placement of the
batch with strictly more weight (`gpu_weight`: milli-GPU + 1, so CPU-only pods still count);
only such an answer replaces the incumbent, so a batch never places less than the ordered online
pass.  Invariant: the allocation recorded at level k counts only pods that had arrived by then
(`recorded_curve`), so the curve stays comparable with the online policies' (a batch sees at
most K - 1 pods ahead).  `batch_runs` fans seeds out over processes.
Called by `berth experiment fgd --batch K`.  How the order and starting policy were chosen, and
the results: docs/policies/batch-mode.md.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from berth.engine import Engine, PolicyContext
from berth.model import GPU
from berth.sim.fgd import Run
from berth.sim.published import LEVELS
from berth.sim.trace import load_nodes, load_pods, node_list_path, pod_trace_path
from berth.sim.workload import demand_mix, prefix_node_names, prepare_arrivals

POLICY = "fgd-repair"
"""The online policy each batch starts from: the best registered one, with its moves, as online."""
ORDERS = {
    "arrival": None,
    "largest-first": lambda w: (-int(w.requests[GPU]), int(w.requests["cpu"])),
}
"""Orders a batch may be placed in: it sees its K pods, so it may sort them.  `largest-first`:
most GPU first, then least CPU (so GPU-light, CPU-heavy pods come last); ties keep arrival."""
SECONDARY = "fragmentation"
"""Among placements of equal weight, the solver opens the fewest wholly free GPUs for shares."""


def gpu_weight(workload) -> int:
    return int(workload.requests[GPU]) + 1


def batch_curve(trace: str, seed: int, k: int, data_dir: Path | None = None, tune: float = 1.3,
                nodes: Path | None = None, time_limit: float = 2.0, policy: str = POLICY,
                order: str = "largest-first", solve: bool = True) -> Run:
    """One batch-mode run; the returned `Run` is named `batch-<k>`.  `solve=False` keeps the
    ordered online placement only (the solver's baseline)."""
    from berth.engine.optimal.batch import place_batch   # loads OR-Tools: seconds, so only when run

    started = time.perf_counter()
    cluster = prefix_node_names(load_nodes(nodes or node_list_path(data_dir)), seed)
    pods = load_pods(pod_trace_path(trace, data_dir))
    capacity = sum(n.gpus for n in cluster) * 1000
    arrivals = prepare_arrivals(pods, seed, tune, capacity)
    context = PolicyContext(mix=demand_mix(pods))
    engine = Engine(cluster, policy, seed=seed, context=context, moves=True)
    placed = np.zeros(len(arrivals), bool)
    for start in range(0, len(arrivals), k):
        index = _ordered(range(start, min(start + k, len(arrivals))), arrivals, order)
        chunk = [arrivals[i] for i in index]
        if solve:
            result = place_batch(engine, chunk, time_limit=time_limit, context=context, weight=gpu_weight,
                                 secondary=SECONDARY, live=True, prefer_hint=True)
            done = result.placements
        else:
            done = {w.name for w in chunk if engine.place(w).ok}
        for i, w in zip(index, chunk):
            placed[i] = w.name in done
    curve = recorded_curve(arrivals, placed, capacity)
    return Run(trace, f"batch-{k}", seed, curve, int(placed.sum()), int((~placed).sum()),
               time.perf_counter() - started)


def _ordered(index, arrivals, order: str) -> list[int]:
    key = ORDERS[order]
    return list(index) if key is None else sorted(index, key=lambda i: key(arrivals[i]))


def recorded_curve(arrivals, placed: np.ndarray, capacity: int) -> np.ndarray:
    """Allocation % at each arrival level, counting only pods arrived by that level."""
    gpu = np.array([w.requests[GPU] for w in arrivals], np.int64)
    arrived = np.cumsum(gpu)
    allocated = np.cumsum(np.where(placed, gpu, 0))
    curve = np.zeros(LEVELS)
    for level in range(1, LEVELS):
        reached = np.flatnonzero(arrived * 100 >= level * capacity)
        at = reached[0] if len(reached) else len(arrivals) - 1
        curve[level] = 100.0 * allocated[at] / capacity
    return curve


def batch_runs(trace: str, seeds: list[int], k: int, data_dir: Path | None = None, workers: int | None = None,
               nodes: Path | None = None, progress=lambda run: None) -> list[Run]:
    """`batch_curve` for every seed over `workers` processes."""
    workers = min(workers or os.cpu_count() or 1, len(seeds))
    if workers <= 1:
        runs = []
        for s in seeds:
            runs.append(batch_curve(trace, s, k, data_dir, nodes=nodes))
            progress(runs[-1])
        return runs
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(batch_curve, trace, s, k, data_dir, nodes=nodes) for s in seeds]
        runs = []
        for f in futures:
            runs.append(f.result())
            progress(runs[-1])
        return runs


__all__ = ["batch_curve", "batch_runs", "recorded_curve"]
