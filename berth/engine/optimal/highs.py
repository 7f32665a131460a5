"""A thin, numpy-only front to HiGHS (highspy) for the bounds in this package.

`solve(problem)` takes a `LinearProblem` built from triplets (row, column, value), maximises or
minimises it as an LP or MIP under a time limit, and returns a `Solution` with the primal
value, the *proven* objective bound (HiGHS' dual bound for a MIP, the optimal value for an LP)
and the status.  Callers in `bounds` and `binpacking` only ever use the proven bound to claim
anything about optimality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import os
import sys

import highspy
import numpy as np

INF = highspy.kHighsInf
_greeted = False


def _highs() -> highspy.Highs:
    """A silent solver.  HiGHS prints a banner to fd 1 on its first construction in a process,
    which would corrupt `--json` output, so that one construction runs with fd 1 on /dev/null."""
    global _greeted
    if _greeted:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)
        _greeted = True
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class LinearProblem:
    """min/max c.x subject to row_lo <= A x <= row_hi, col_lo <= x <= col_hi (some x integer)."""

    cost: list[float] = field(default_factory=list)
    col_lo: list[float] = field(default_factory=list)
    col_hi: list[float] = field(default_factory=list)
    integer: list[bool] = field(default_factory=list)
    row_lo: list[float] = field(default_factory=list)
    row_hi: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    vals: list[float] = field(default_factory=list)
    maximize: bool = True

    def add_col(self, cost: float, lo: float = 0.0, hi: float = INF, integer: bool = False) -> int:
        self.cost.append(cost)
        self.col_lo.append(lo)
        self.col_hi.append(hi)
        self.integer.append(integer)
        return len(self.cost) - 1

    def add_row(self, entries: dict[int, float], lo: float = -INF, hi: float = INF) -> int:
        row = len(self.row_lo)
        for col, value in entries.items():
            if value:
                self.rows.append(row)
                self.cols.append(col)
                self.vals.append(value)
        self.row_lo.append(lo)
        self.row_hi.append(hi)
        return row


@dataclass(frozen=True)
class Solution:
    status: str
    value: float | None
    """Objective of the best primal solution found (None when there is none)."""
    bound: float | None
    """Proven bound on the optimum (upper for a maximisation, lower for a minimisation)."""
    x: np.ndarray
    duals: np.ndarray


def _lp(problem: LinearProblem) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    n, m = len(problem.cost), len(problem.row_lo)
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = np.asarray(problem.cost, float)
    lp.col_lower_ = np.asarray(problem.col_lo, float)
    lp.col_upper_ = np.asarray(problem.col_hi, float)
    lp.row_lower_ = np.asarray(problem.row_lo, float)
    lp.row_upper_ = np.asarray(problem.row_hi, float)
    cols = np.asarray(problem.cols, np.int64)
    order = np.argsort(cols, kind="stable")
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(cols[order], np.arange(n + 1)).astype(np.int32)
    lp.a_matrix_.index_ = np.asarray(problem.rows, np.int32)[order]
    lp.a_matrix_.value_ = np.asarray(problem.vals, float)[order]
    lp.sense_ = highspy.ObjSense.kMaximize if problem.maximize else highspy.ObjSense.kMinimize
    if any(problem.integer):
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in problem.integer]
    return lp


def solve(problem: LinearProblem, time_limit: float = 10.0, relax: bool = False,
          abs_gap: float | None = None, heuristic_effort: float | None = None,
          rel_gap: float = 1e-6) -> Solution:
    """Solve `problem` (as an LP if `relax`); never raises for infeasible or timed-out models.
    `abs_gap`: a MIP stops once its incumbent is within this of its proven bound (just under 1
    for an integer objective: the incumbent is then optimal); `rel_gap`: the same, relative."""
    h = _highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", float(rel_gap))
    if abs_gap is not None:
        h.setOptionValue("mip_abs_gap", float(abs_gap))
    if heuristic_effort is not None:
        h.setOptionValue("mip_heuristic_effort", float(heuristic_effort))
    lp = _lp(problem)
    mip = any(problem.integer) and not relax
    if not mip:
        lp.integrality_ = []
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    sol = h.getSolution()
    x = np.asarray(sol.col_value, float)
    duals = np.asarray(sol.row_dual, float)
    has_primal = info.primal_solution_status == 2
    value = float(info.objective_function_value) if has_primal else None
    if mip:
        bound = float(info.mip_dual_bound)
        bound = None if not np.isfinite(bound) else bound
    else:
        bound = value if status == "Optimal" else None
    return Solution(status, value, bound, x, duals)
