"""A constructive packing for the fewest new nodes: fill one node at a time, as full as it gets.

Phase 2 of `compact` (fewest new nodes, every workload placed) is a vector bin-packing problem
whose relaxation bound is usually already the optimum; the hard part is a packing that meets it
when little capacity is to spare, where HiGHS' own heuristics and the node-emptying search of
`shrink` can take long.  `fullest_first` is the minimum-bin-slack construction: repeatedly, for
each node class with rows left, solve the one-node pricing MIP of `layouts` (the node's exact
constraints, devices included) over the workloads still to place, each type valued by its
demand with every resource weighted by how scarce it is over the batch, and keep the fullest
node (nodes already in use first: they cost nothing).  Restarts perturb the values at random
(seeded, so runs repeat).  A construction that places the whole batch is a valid placement; it
proves nothing (the lower bound comes from `compact`).  Called by `compact.prove`.
"""

from __future__ import annotations

import time

import numpy as np

from berth.engine.optimal.highs import LinearProblem, solve
from berth.engine.optimal.layouts import Assignment, lay_out

STEP_LIMIT = 0.5
"""Seconds at most for one node's pricing MIP."""
STEP_GAP = 0.01
"""Relative gap at which a node's pricing MIP stops (a construction needs a full node, not the fullest)."""
NOISE = 0.3
"""Restarts multiply each type's value by a factor drawn from [1, 1 + NOISE)."""
EPS_VALUE = 1e-3


def fullest_first(model, target: int, deadline: float, seed: int = 0) -> tuple[Assignment, int] | None:
    """(assignment placing every workload, its new nodes) with the fewest new nodes found, or
    None; restarts until one meets `target` (a proven lower bound) or `deadline` passes."""
    rng = np.random.default_rng(seed)
    base = _values(model)
    best: tuple[Assignment, int] | None = None
    first = True
    while time.perf_counter() < deadline and (best is None or best[1] > target):
        values = base if first else base * (1 + NOISE * rng.random(len(base)))
        first = False
        limit = None if best is None else best[1] - 1
        built = _construct(model, values, limit, deadline)
        if built is not None and (best is None or built[1] < best[1]):
            best = built
    return best


def _values(model) -> np.ndarray:
    """Per type: its demand, each resource weighted by scarcity / mean free per row."""
    agg, classes, rows = model.agg, model.classes, model.rows
    counts = np.array([t.count for t in agg.types], float)
    demand = np.array([np.append(t.request, t.gpu_milli * t.gpu_count) for t in agg.types], float)
    free = sum(np.append(c.free, sum(c.devices)).astype(float) * len(r) for c, r in zip(classes, rows))
    n_rows = max(1, sum(map(len, rows)))
    need = counts @ demand
    scarce = np.divide(need, free, out=np.zeros_like(need), where=free > 0)
    unit = np.divide(scarce * n_rows, free, out=np.zeros_like(need), where=free > 0)
    values = demand @ unit
    return values + EPS_VALUE * max(1e-9, float(values.max(initial=0.0)))


def _construct(model, values: np.ndarray, limit: int | None, deadline: float) -> tuple[Assignment, int] | None:
    """One construction; None when it strands a workload or needs more than `limit` new nodes."""
    left = np.array([t.count for t in model.agg.types])
    rows = [list(r) for r in model.rows]
    placed, new = [], 0
    while left.any():
        step = _fullest(model, values, left, rows, deadline)
        if step is None:
            return None
        k, pattern = step
        placed.append((rows[k].pop(0), pattern))
        left -= np.array(pattern.counts)
        new += int(model.classes[k].empty)
        if limit is not None and new > limit:
            return None
    return lay_out(model.snap, model.agg, placed), new


def _fullest(model, values: np.ndarray, left: np.ndarray, rows, deadline: float):
    """(class, pattern) of the fullest node any class with rows left can hold, in-use classes first."""
    best = None
    for k, pricer in enumerate(model.pricers):
        types = [t for t in model.classes[k].types if left[t] > 0 and pricer.most[t] > 0]
        if not rows[k] or not types or time.perf_counter() >= deadline:
            continue
        p = LinearProblem(maximize=True)
        a, y, z = pricer.build(p, values, types)
        for t, j in a.items():
            p.col_hi[j] = float(min(pricer.most[t], left[t]))
        sol = solve(p, min(STEP_LIMIT, max(0.05, deadline - time.perf_counter())), rel_gap=STEP_GAP)
        if sol.value is None or sol.value <= 0:
            continue
        key = (not model.classes[k].empty, sol.value)
        if best is None or key > best[0]:
            best = (key, k, pricer._pattern(sol.x, a, y, z))
    return None if best is None else best[1:]
