"""The compact MIP of one batch over node layouts, solved by HiGHS in two phases.

When a batch meets few node classes (an empty or small cluster) the CP-SAT model of `cpsat` is
weak: its linear relaxation is the aggregated one of `bounds`, and its per-device share
variables carry a symmetry no propagation removes, so it rarely proves a batch that does not fit
or the fewest nodes of one that does.  This model writes every candidate node with the layout
formulation of `layouts` (counts per workload type, devices as layouts of share sizes: no device
symmetry), links the nodes by the batch's count of each type, and orders identical nodes (same
class) by what they hold.  HiGHS' branch and cut then proves what CP-SAT could not.

- Phase 1: max sum of weights placed (optionally under a proven bound, so HiGHS stops as soon
  as a placement meets it).
- Phase 2 (`nodes` secondary): min number of newly used empty nodes, subject to the weight of
  phase 1; u_n >= a[t, n] / most and per-dimension load <= capacity * u_n (the form whose
  relaxation is the volume bound).  Its lower bound: the compact relaxation when the batch
  fits whole; otherwise, when the placement uses every empty candidate row, phase 1's
  relaxation without one row of each empty class in turn (all under the weight: every row is
  needed), else the configuration LP of `columns`.

`solve_phase` returns the placement, HiGHS' proven bound and whether it proved optimality.
`prove` runs both phases within a deadline.  Before phase 2, when the batch fits whole and the
incumbent has not met the bound, the fullest-node construction of `fullest` gets a share of
the time (on tight packings it meets the bound in a fraction of HiGHS' time); when phase 2 has
not met its bound either, `shrink` (large-neighbourhood search over used nodes) tries to
empty nodes with the time left.  A class keeps only as many rows as the batch could use (its
rows are interchangeable), so the model is exact.  Called by `berth.engine.optimal.batch`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from berth.engine.optimal.aggregate import Aggregate
from berth.engine.optimal.columns import ColumnGeneration
from berth.engine.optimal.fullest import fullest_first
from berth.engine.optimal.highs import INF, LinearProblem, solve
from berth.engine.optimal.layouts import Assignment, Pricing, column_classes, lay_out, new_nodes
from berth.engine.optimal.shrink import fill, shrink

MAX_ROWS = 400
"""Above this many candidate rows the compact model is not built (the caller falls back)."""
PRIMAL_EFFORT = 0.8
"""HiGHS' heuristic effort in phase 2, where finding the packing is the hard part (the
relaxation's bound is usually already the optimum)."""
PHASE1_SHARE = 0.5
"""Share of the time left that phase 1's MIP gets; `fill` (neighbourhood search for more
weight) has most of the rest when the MIP has not met its own bound by then."""
PHASE2_SHARE = 0.6
"""Share of the time left that phase 2 gets; the node-emptying search (`shrink`) has the rest."""
FULLEST_SHARE = 0.3
"""Share of the time left that the fullest-node construction (`fullest`) gets before phase 2,
when the batch fits whole and the incumbent has not met the bound."""


@dataclass(frozen=True)
class PhaseOutcome:
    assignment: Assignment | None
    value: int | None
    bound: float
    optimal: bool
    status: str


class CompactModel:
    """Candidate rows per class and their pricers; `solve_phase` builds and solves one phase."""

    def __init__(self, snap, agg: Aggregate, weights) -> None:
        self.snap, self.agg = snap, agg
        self.weights = np.asarray(weights, float)
        self.classes = column_classes(snap, agg)
        counts = np.array([t.count for t in agg.types])
        self.rows = [list(c.rows[: max(0, min(len(c.rows), int(counts[list(c.types)].sum())))])
                     for c in self.classes]
        small = sum(map(len, self.rows)) <= MAX_ROWS
        self.pricers = [Pricing(agg, c, i) for i, c in enumerate(self.classes)] if small else []

    @property
    def usable(self) -> bool:
        return bool(self.pricers) and all(p.ok for p in self.pricers)

    def solve_phase(self, phase: int, time_limit: float, weight_at_least: float = 0.0,
                    known_bound: float | None = None, node_budget: int | None = None,
                    relax: bool = False, effort: float | None = None) -> PhaseOutcome:
        p = LinearProblem(maximize=phase == 1)
        nodes = self._nodes(p, phase, node_budget is not None)
        self._link(p, nodes, phase, weight_at_least, known_bound)
        if node_budget is not None:
            p.add_row({u: 1.0 for *_, u in nodes if u is not None}, hi=float(node_budget))
        sol = solve(p, time_limit, relax=relax, abs_gap=0.999, heuristic_effort=effort)
        if relax:           # the LP's value bounds only when HiGHS solved it to optimality
            unknown = math.inf if phase == 1 else -math.inf
            return PhaseOutcome(None, None, sol.bound if sol.bound is not None else unknown, False, sol.status)
        if sol.value is None:
            bound = math.inf if sol.bound is None else sol.bound
            return PhaseOutcome(None, None, bound, False, sol.status)
        placed = [(row, pr._pattern(sol.x, a, y, z)) for row, pr, a, y, z, _ in nodes]
        placed = [(row, pat) for row, pat in placed if any(pat.counts)]
        value = int(round(sol.value))
        bound = sol.bound if sol.bound is not None else (math.inf if phase == 1 else -math.inf)
        optimal = (math.floor(bound + 1e-6) <= value) if phase == 1 else (math.ceil(bound - 1e-6) >= value)
        return PhaseOutcome(lay_out(self.snap, self.agg, placed), value, bound, optimal, sol.status)

    def _nodes(self, p: LinearProblem, phase: int, budget: bool) -> list:
        out = []
        values = self.weights if phase == 1 else np.zeros_like(self.weights)
        for k, pr in enumerate(self.pricers):
            types = [t for t in self.classes[k].types if pr.most[t] > 0]
            if not types:
                continue
            prev = None
            for row in self.rows[k]:
                a, y, z = pr.build(p, values, types)
                used = self._used(p, pr, a, phase) if (phase == 2 or budget) and self.classes[k].empty else None
                out.append((row, pr, a, y, z, used))
                self._order(p, prev, (a, used), phase)
                prev = (a, used)
        return out

    def _used(self, p: LinearProblem, pr: Pricing, a: dict, phase: int) -> int:
        """u = 1 when the (empty) node holds anything; capacity rows scaled by u."""
        u = p.add_col(1.0 if phase == 2 else 0.0, 0, 1, True)
        for t, j in a.items():
            p.add_row({j: 1.0, u: -float(pr.most[t])}, hi=0)
        cls, types = pr.cls, self.agg.types
        for d in range(len(cls.free)):
            row = {j: float(types[t].request[d]) for t, j in a.items() if types[t].request[d]}
            if row:
                p.add_row({**row, u: -float(cls.free[d])}, hi=0)
        gpu = {j: float(types[t].gpu_milli * types[t].gpu_count) for t, j in a.items() if types[t].gpu_count}
        if gpu:
            p.add_row({**gpu, u: -float(sum(cls.devices))}, hi=0)
        return u

    def _order(self, p: LinearProblem, prev, this, phase: int) -> None:
        """Identical rows: the earlier holds at least as much weight (phase 1) or is used if
        the later one is (phase 2); any placement can be so permuted."""
        if prev is None:
            return
        if this[1] is not None:
            p.add_row({prev[1]: 1.0, this[1]: -1.0}, lo=0)
            if phase == 2:
                return
        row = {j: float(self.weights[t]) for t, j in prev[0].items()}
        for t, j in this[0].items():
            row[j] = row.get(j, 0.0) - float(self.weights[t])
        p.add_row(row, lo=0)

    def _link(self, p: LinearProblem, nodes, phase: int, weight_at_least: float, known_bound) -> None:
        per_type: dict[int, list[int]] = {}
        total: dict[int, float] = {}
        for _, _, a, _, _, _ in nodes:
            for t, j in a.items():
                per_type.setdefault(t, []).append(j)
                total[j] = float(self.weights[t])
        everything = phase == 2 and weight_at_least >= sum(self.weights[t] * wt.count
                                                           for t, wt in enumerate(self.agg.types))
        for t, js in per_type.items():
            n = float(self.agg.types[t].count)
            p.add_row({j: 1.0 for j in js}, lo=n if everything else -INF, hi=n)
        if phase == 2:
            if not everything:
                p.add_row(total, lo=float(weight_at_least))
            if known_bound is not None:
                used = {u: 1.0 for *_, u in nodes if u is not None}
                if used:
                    p.add_row(used, lo=float(known_bound))
        elif known_bound is not None:
            p.add_row(total, hi=float(known_bound))


@dataclass
class Proof:
    """What `prove` established: the best assignment, the proven weight bound, the proven lower
    bound on new nodes at that weight (None: not attempted) and whether both are met."""

    assignment: Assignment
    weight: int
    weight_bound: float
    nodes: int
    nodes_bound: float | None
    optimal: bool
    status: str


def prove(snap, agg: Aggregate, weights, incumbent: Assignment, bound: float, secondary: str,
          deadline: float) -> Proof | None:
    """Phase 1, then (secondary `nodes`) the configuration-LP bound on new nodes and phase 2,
    within `deadline` (a perf_counter time); None when the compact model does not apply."""
    model = CompactModel(snap, agg, weights)
    if not model.usable or _zone_anti_affinity(agg):
        return None
    item_weight = {i: float(model.weights[t]) for t, wt in enumerate(agg.types) for i in wt.members}
    best = incumbent
    value = int(round(sum(item_weight[i] for i in best)))
    weight_bound, status = float(bound), "OPTIMAL"
    items = {i: wt.example for wt in agg.types for i in wt.members}
    workloads, per_item = [items[i] for i in range(len(items))], [item_weight[i] for i in range(len(items))]
    if value < weight_bound:
        r1 = model.solve_phase(1, _share(deadline, PHASE1_SHARE), known_bound=weight_bound)
        if r1.value is not None and r1.value > value:
            best, value = r1.assignment, r1.value
        weight_bound = value if r1.optimal else min(weight_bound, math.floor(r1.bound + 1e-6))
        if value < weight_bound:
            rows = [r for rows in model.rows for r in rows]
            until = time.perf_counter() + _share(deadline, 0.7)
            best = fill(snap, workloads, per_item, best, rows, weight_bound, until)
            value = int(round(sum(per_item[i] for i in best)))
        status = "OPTIMAL" if value >= weight_bound else "FEASIBLE"
    nodes = new_nodes(snap, best)
    if value < weight_bound or secondary == "fragmentation":
        return Proof(best, value, weight_bound, nodes, None, False, status if value >= weight_bound else "FEASIBLE")
    if secondary == "none" or nodes == 0:
        return Proof(best, value, weight_bound, nodes, float(nodes), True, "OPTIMAL")
    best, nodes, lower, done = _fewest_nodes(model, best, value, nodes, deadline)
    if not done:
        best = shrink(snap, workloads, per_item, best, int(lower), deadline)
        nodes = new_nodes(snap, best)
        done = nodes <= lower
    return Proof(best, value, weight_bound, nodes, lower, done, "OPTIMAL" if done else "FEASIBLE")


def _fewest_nodes(model: CompactModel, best: Assignment, value: int, nodes: int, deadline: float):
    """Phase 2: (assignment, new nodes, proven lower bound, proven optimal)."""
    total = sum(model.weights[t] * wt.count for t, wt in enumerate(model.agg.types))
    if value < total and nodes == _empty_rows(model) and _every_row_needed(model, value, deadline):
        lower = float(nodes)
    elif value < total:      # not all fit: the configuration LP is the bound that tells (see `columns`)
        cg = ColumnGeneration(model.snap, model.agg, model.weights, time.perf_counter() + _share(deadline, 0.8))
        cg.seed(_per_row(model.agg, best))
        lower = max(0.0, cg.run(2, target=value, stop_at=nodes, integer=False).bound)
    else:                    # all fit: the compact relaxation is usually already tight
        relaxed = model.solve_phase(2, _share(deadline, 0.2), weight_at_least=value, relax=True)
        lower = float(math.ceil(relaxed.bound - 1e-6)) if math.isfinite(relaxed.bound) else 0.0
    if lower < nodes and value >= total:
        built = fullest_first(model, int(lower), time.perf_counter() + _share(deadline, FULLEST_SHARE))
        if built is not None and built[1] < nodes:
            best, nodes = built
    if lower < nodes:
        r2 = model.solve_phase(2, _share(deadline, PHASE2_SHARE), weight_at_least=value, known_bound=lower,
                               effort=PRIMAL_EFFORT)
        if r2.value is not None and r2.value < nodes:
            best, nodes = r2.assignment, r2.value
        lower = max(lower, float(math.ceil(r2.bound - 1e-6)) if math.isfinite(r2.bound) else lower)
    return best, nodes, lower, lower >= nodes


def _empty_rows(model: CompactModel) -> int:
    return sum(len(rows) for cls, rows in zip(model.classes, model.rows) if cls.empty)


def _every_row_needed(model: CompactModel, value: int, deadline: float) -> bool:
    """Whether every placement of weight >= `value` uses every empty candidate row, proven by
    LP: for each empty class, phase 1's relaxation with one row of it fewer stays under `value`.
    (Rows of a class are interchangeable and a class keeps as many as the batch could use, so a
    placement leaving any empty row unused is one on such a reduced model.)"""
    full = model.rows
    try:
        for k, cls in enumerate(model.classes):
            if not cls.empty or not full[k]:
                continue
            model.rows = [rows[:-1] if j == k else rows for j, rows in enumerate(full)]
            relaxed = model.solve_phase(1, _share(deadline, 0.1), relax=True)
            if relaxed.status != "Optimal" or math.floor(relaxed.bound + 1e-6) >= value:
                return False
        return True
    finally:
        model.rows = full


def _share(deadline: float, fraction: float) -> float:
    return max(0.1, fraction * (deadline - time.perf_counter()))


def _per_row(agg: Aggregate, assignment: Assignment) -> dict:
    index = {i: t for t, wt in enumerate(agg.types) for i in wt.members}
    out: dict[int, list] = {}
    for i, (row, devs) in assignment.items():
        out.setdefault(row, []).append((index[i], devs))
    return out


def _zone_anti_affinity(agg: Aggregate) -> bool:
    return any(aa.topology != "node" for t in agg.types for aa in t.example.anti_affinity)
