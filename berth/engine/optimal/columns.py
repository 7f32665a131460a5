"""Column generation over node patterns: a proven bound and a placement for one batch.

The node-level CP-SAT model (`cpsat`) has a weak linear relaxation when the batch does not fit
(its bound is the aggregated relaxation of `bounds`) and when the second objective is the
fewest new nodes (a bin-packing problem).  This module solves the *configuration* (Dantzig-
Wolfe) reformulation instead.  A pattern is what one node of a class (`aggregate`: equal free
resources and filter verdicts; split further by whether the node is empty) can hold: counts
a[t] per workload type, with the share and whole-GPU workloads laid out on its devices.

- Phase 1, weight: max sum_p w_p lam_p subject to sum_p a_tp lam_p <= n_t per type and
  sum_(p in c) lam_p <= N_c per class.  Pricing per class is a small HiGHS MIP over the node's
  counts and device layouts (`layouts.Pricing`: the exact per-node constraints).
  For any duals pi >= 0 the Lagrangian value pi.n + sum_c N_c max(0, V_c(pi)) bounds every
  placement's weight (V_c: the pricing optimum, or HiGHS' proven bound on it), so a run stopped
  by its time limit still returns a proven bound; at convergence it is the LP optimum.
- Phase 2, fewest new nodes at weight >= W (the best weight found): min sum_p e_p lam_p with
  e_p = 1 for a non-empty pattern on an empty class, plus the row sum_p w_p lam_p >= W; its
  Lagrangian value sigma W - pi.n - sum_c N_c max(0, V_c - e_c) is a proven lower bound on the
  new nodes of any placement of weight >= W.
- Each phase then solves its master as an integer program over the columns generated (HiGHS
  MIP): a placement, often meeting the bound (the configuration LP is tight on such problems).

Everything is exact for node-level anti-affinity; the caller does not use this module when a
zone-level anti-affinity group is present.  Called by `berth.engine.optimal.compact` (the
phase-2 bound on new nodes when a batch does not fit whole).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from berth.engine.optimal.aggregate import Aggregate
from berth.engine.optimal.highs import LinearProblem, solve
from berth.engine.optimal.layouts import EPS, Assignment, Pattern, Pricing, column_classes, lay_out


@dataclass
class PhaseResult:
    bound: float
    value: int | None
    chosen: list[tuple[Pattern, int]]
    converged: bool
    iterations: int


def proven(phase: int, value: float) -> float:
    """The integer bound a (floating-point) Lagrangian value proves: weights and new-node
    counts are integers, so phase 1 rounds down and phase 2 up, after a safety margin."""
    if not math.isfinite(value):
        return value
    margin = 1e-6 * max(1.0, abs(value))
    return float(math.floor(value + margin)) if phase == 1 else float(math.ceil(value - margin))


def _reached(phase: int, bound: float, stop_at: float) -> bool:
    return bound <= stop_at if phase == 1 else bound >= stop_at


class ColumnGeneration:
    """Both phases over one batch (see the module doc); `weights[t]` per workload type."""

    def __init__(self, snap, agg: Aggregate, weights, deadline: float) -> None:
        self.snap, self.agg, self.deadline = snap, agg, deadline
        self.weights = np.asarray(weights, float)
        self.counts = np.array([t.count for t in agg.types], float)
        self.classes = column_classes(snap, agg)
        self.pricers = [Pricing(agg, c, i) for i, c in enumerate(self.classes)]
        self.columns: dict[tuple, Pattern] = {}
        self.class_of_row = {r: i for i, c in enumerate(self.classes) for r in c.rows}
        for pricer in self.pricers:                        # one best-weight column per class
            _, pattern = pricer.solve(self.weights, max(0.05, self.left()))
            if pattern is not None:
                self.add(pattern)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def add(self, pattern: Pattern) -> bool:
        key = (pattern.cls, pattern.counts)
        if key in self.columns or not any(pattern.counts):
            return False
        self.columns[key] = pattern
        return True

    def seed(self, per_row: dict[int, list[tuple[int, tuple[int, ...]]]]) -> None:
        """Columns from a placement: row -> [(type, devices)], devices as snapshot indices."""
        for row, items in per_row.items():
            c = self.class_of_row.get(row)
            if c is None:
                continue
            order = np.argsort(self.snap.devices(row), kind="stable")
            where = {int(d): j for j, d in enumerate(order)}
            counts = [0] * len(self.agg.types)
            devices: list[list[int]] = [[] for _ in self.classes[c].devices]
            for t, devs in items:
                counts[t] += 1
                for d in devs:
                    devices[where[d]].append(t)
            self.add(Pattern(c, tuple(counts), tuple(tuple(d) for d in devices)))

    def weight_of(self, p: Pattern) -> float:
        return float(np.dot(self.weights, p.counts))

    def cost_of(self, p: Pattern) -> int:
        return int(self.classes[p.cls].empty and any(p.counts))

    # -- masters -------------------------------------------------------------------------

    def _master(self, phase: int, target: float, integer: bool, time_limit: float):
        cols = list(self.columns.values())
        p = LinearProblem(maximize=phase == 1)
        cost = self.weight_of if phase == 1 else (lambda c: float(self.cost_of(c)))
        js = [p.add_col(cost(c), 0, float(len(self.classes[c.cls].rows)), integer) for c in cols]
        if phase == 2:
            p.add_row({j: self.weight_of(c) for j, c in zip(js, cols)}, lo=target)
        for t in range(len(self.agg.types)):
            p.add_row({j: float(c.counts[t]) for j, c in zip(js, cols) if c.counts[t]}, hi=float(self.counts[t]))
        for k, cls in enumerate(self.classes):
            p.add_row({j: 1.0 for j, c in zip(js, cols) if c.cls == k}, hi=float(len(cls.rows)))
        return cols, solve(p, time_limit)

    def _duals(self, phase: int, sol) -> tuple[float, np.ndarray, np.ndarray]:
        """(sigma, pi, mu), all >= 0, so that the pricing values are sigma w_t - pi_t."""
        d = np.asarray(sol.duals, float)
        if phase == 1:
            n = len(self.agg.types)
            return 1.0, np.maximum(d[:n], 0), np.maximum(d[n:], 0)
        n = len(self.agg.types) + 1
        return max(float(d[0]), 0.0), np.maximum(-d[1:n], 0), np.maximum(-d[n:], 0)

    # -- one phase -----------------------------------------------------------------------

    def run(self, phase: int, target: float = 0.0, stop_at: float | None = None,
            integer: bool = True) -> PhaseResult:
        """Generate columns for `phase` until no column improves, the Lagrangian bound meets
        `stop_at` (phase 1: an upper bound at most it; phase 2: a lower bound at least it) or
        time runs out; then the integer master.  `bound` is proven either way."""
        best = math.inf if phase == 1 else -math.inf
        converged, it = False, 0
        while self.left() > 0.2:
            it += 1
            if not self.columns:                           # nothing fits any node
                best, converged = (0.0, True) if phase == 1 else (best, False)
                break
            _, sol = self._master(phase, target, False, max(0.1, self.left()))
            if sol.value is None:
                break
            sigma, pi, mu = self._duals(phase, sol)
            lagrange, added = self._price_all(phase, target, sigma, pi, mu)
            best = min(best, lagrange) if phase == 1 else max(best, lagrange)
            if not added:
                converged = True
                best = min(best, sol.value) if phase == 1 else max(best, sol.value)
                break
            if stop_at is not None and _reached(phase, proven(phase, best), stop_at):
                break
        value, chosen = self._integer(phase, target, best) if integer else (None, [])
        return PhaseResult(proven(phase, best), value, chosen, converged, it)

    def _price_all(self, phase, target, sigma, pi, mu) -> tuple[float, int]:
        values = sigma * self.weights - pi
        if phase == 1:
            lagrange = float(pi @ self.counts)
        else:
            lagrange = float(sigma * target - pi @ self.counts)
        added = 0
        for k, pricer in enumerate(self.pricers):
            n = len(self.classes[k].rows)
            ub, pattern = pricer.solve(values, max(0.05, self.left()))
            cost = 0.0 if phase == 1 else float(self.classes[k].empty)
            lagrange += n * max(0.0, ub - cost) * (1 if phase == 1 else -1)
            if pattern is not None and float(values @ pattern.counts) - cost > mu[k] + EPS:
                added += self.add(pattern)
        return lagrange, added

    def _integer(self, phase: int, target: float, bound: float):
        if not self.columns:
            return (0 if phase == 1 else None), []
        cols, sol = self._master(phase, target, True, max(0.2, self.left()))
        if sol.value is None:
            return None, []
        xs = np.round(sol.x[: len(cols)]).astype(int)
        chosen = [(c, int(x)) for c, x in zip(cols, xs) if x > 0]
        of = self.weight_of if phase == 1 else self.cost_of
        value = sum(of(c) * x for c, x in chosen)
        return int(round(value)), chosen

    def assignment(self, chosen: list[tuple[Pattern, int]]) -> Assignment:
        """Type members (batch indices, in order) onto rows and devices of the chosen patterns."""
        free_rows = {k: list(c.rows) for k, c in enumerate(self.classes)}
        return lay_out(self.snap, self.agg, [(free_rows[p.cls].pop(0), p) for p, times in chosen for _ in range(times)])
