"""A proven upper bound on what any placement of a batch can achieve (HiGHS MIP over aggregates).

`AllocationModel(aggregate, weights)` relaxes "place a subset of the batch on the nodes,
maximising the total weight placed" (weights: milli-GPU for the FGD experiment, priority for the
batch solver) into a small integer program over (workload type, node class) counts y[t, c]:

- at most the batch's count of each type: sum_c y[t, c] <= n_t;
- y[t, c] = 0 where one workload of type t fits no node of class c (the engine's own filters);
- per class and scalar dimension (cpu, memory, ...): sum_t r_t y[t, c] <= |c| * free_c;
- per class, pods, milli-GPU and wholly free devices (k-GPU workloads need k whole devices);
- per class, dual-feasible-function cuts on the devices (Fekete and Schepers): for u_k with
  sum u_k(x_i) <= 1 whenever sum x_i <= 1, the shares on one device obey
  sum u_k(share / 1000) <= 1 - u_k(used / 1000); summing over the class's devices gives a valid
  row.  u_1 counts shares above half a GPU, u_2 those above a third, and so on;
- per anti-affinity group: at most one member per node (per zone for zone topology).

Every feasible placement of the batch maps to a feasible y with the same objective, so the
optimum of this model's LP relaxation (the default: on the FGD trace it is within 0.001 pp of
the integer optimum and about 50 times faster) or, with `integer=True`, HiGHS' proven MIP dual
bound, is an upper bound on any placement's weight.  A small tolerance margin is added and, when
weights are integers, the result rounded down (the optimum is then an integer); a solve that proves nothing falls back to the
trivial bound (everything placed), so the answer is always valid.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from berth.engine.optimal.aggregate import Aggregate
from berth.engine.optimal.highs import LinearProblem, solve
from berth.engine.snapshot import UNLIMITED_PODS
from berth.model import GPU_WHOLE

DFF_ORDERS = (1, 2, 3, 4, 5)
TOLERANCE = 1e-7
"""Relative margin added to the solver's value before rounding down (integer weights), so
floating-point error in the LP can never push the bound below the true optimum."""


def dff(k: int, milli: int) -> float:
    """Fekete-Schepers dual-feasible function u_k at x = milli / 1000."""
    if ((k + 1) * milli) % GPU_WHOLE == 0:
        return milli / GPU_WHOLE
    return ((k + 1) * milli // GPU_WHOLE) / k


@dataclass(frozen=True)
class AllocationBound:
    """`bound`: proven upper bound on the placed weight; `relaxed`: the relaxation's own best."""

    bound: float
    relaxed: float | None
    status: str
    seconds: float


class AllocationModel:
    """The relaxation of one batch on one snapshot; `solve(counts)` bounds any prefix of it."""

    def __init__(self, agg: Aggregate, weights: np.ndarray, zones: int = 1) -> None:
        self.agg, self.weights, self.zones = agg, np.asarray(weights, float), zones
        self.integral = bool(np.all(self.weights == np.round(self.weights)))

    def solve(self, counts: np.ndarray | None = None, time_limit: float = 10.0,
              integer: bool = False) -> AllocationBound:
        """Bound for `counts[t]` workloads of each type (default: the whole batch)."""
        started = time.perf_counter()
        counts = np.array([t.count for t in self.agg.types]) if counts is None else np.asarray(counts)
        trivial = float(self.weights @ counts)
        problem, cols = self._problem(counts)
        if not cols:
            return AllocationBound(0.0, 0.0, "Optimal", time.perf_counter() - started)
        sol = solve(problem, time_limit, relax=not integer)
        bound = trivial if sol.bound is None else min(trivial, sol.bound + TOLERANCE * max(1.0, abs(sol.bound)))
        if self.integral:
            bound = float(math.floor(bound))
        return AllocationBound(bound, sol.value, sol.status, time.perf_counter() - started)

    def _problem(self, counts: np.ndarray) -> tuple[LinearProblem, dict]:
        agg, p = self.agg, LinearProblem(maximize=True)
        cols = {}
        for t, wtype in enumerate(agg.types):
            if counts[t] <= 0 or self.weights[t] <= 0:
                continue
            for c in np.flatnonzero(agg.compat[t]):
                cols[t, int(c)] = p.add_col(self.weights[t], 0, float(counts[t]), integer=True)
        for t in range(len(agg.types)):
            row = {j: 1.0 for (tt, _), j in cols.items() if tt == t}
            if row:
                p.add_row(row, hi=float(counts[t]))
        for c in range(len(agg.classes)):
            self._class_rows(p, cols, c)
        self._anti_affinity_rows(p, cols)
        return p, cols

    def _class_rows(self, p: LinearProblem, cols: dict, c: int) -> None:
        agg, cls = self.agg, self.agg.classes[c]
        here = [(t, j) for (t, cc), j in cols.items() if cc == c]
        if not here:
            return
        for d in range(len(cls.free)):
            if cls.free[d] > 0:
                p.add_row({j: agg.types[t].request[d] / cls.free[d] for t, j in here}, hi=float(cls.count))
        if cls.pods_free < UNLIMITED_PODS:
            p.add_row({j: 1.0 for _, j in here}, hi=float(cls.count * cls.pods_free))
        gpu = [(t, j) for t, j in here if agg.types[t].gpu_count]
        if not gpu:
            return
        milli = lambda t: agg.types[t].gpu_milli * agg.types[t].gpu_count  # noqa: E731
        p.add_row({j: milli(t) for t, j in gpu}, hi=float(cls.count * sum(cls.devices)))
        whole = {j: agg.types[t].gpu_count for t, j in gpu if agg.types[t].gpu_milli >= GPU_WHOLE}
        if whole:
            p.add_row(whole, hi=float(cls.count * cls.whole_devices))
        for k in DFF_ORDERS:
            budget = sum(1 - dff(k, GPU_WHOLE - d) for d in cls.devices)
            p.add_row({j: agg.types[t].gpu_count * dff(k, agg.types[t].gpu_milli) for t, j in gpu},
                      hi=float(cls.count * budget))

    def _anti_affinity_rows(self, p: LinearProblem, cols: dict) -> None:
        groups: dict[tuple[str, str], list[int]] = {}
        for (t, c), j in cols.items():
            for aa in self.agg.types[t].example.anti_affinity:
                groups.setdefault((aa.group, aa.topology), []).append(j)
        for (group, topology), js in groups.items():
            if topology == "node":
                for c in range(len(self.agg.classes)):
                    row = {j: 1.0 for (t, cc), j in cols.items() if cc == c and j in js}
                    if row:
                        p.add_row(row, hi=float(self.agg.classes[c].count))
            else:
                p.add_row({j: 1.0 for j in js}, hi=float(self.zones))
