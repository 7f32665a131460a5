"""Lower bounds on the number of nodes a set of workloads needs (vector bin packing).

Items are rows of `sizes` (types x dimensions) with `demand[t]` copies; bins come in classes,
`capacity[c]` per dimension with `available[c]` bins each, and `compat[t, c]` says whether type
t may use class c.  Two bounds, both valid for any packing:

- `volume_bound`: per dimension, the fewest bins whose capacities add up to the demand, taking
  the largest bins first (ignores compatibility, which only makes it weaker, never invalid);
  the classic max_d ceil(sum w_d / C_d) when bins are equal.
- `configuration_bound`: Gilmore-Gomory's configuration LP, min sum_p x_p subject to covering
  every type's demand with patterns p (a multiset of items fitting one bin) and using at most
  `available[c]` bins of each class, solved by column generation with HiGHS: the master is an
  LP, the pricing problem per class is an integer knapsack (HiGHS MIP).  At every iteration the
  Lagrangian value pi.d - lam.N + sum_c N_c min(0, 1 + lam_c - v_c) (v_c: the pricing optimum,
  or its proven bound) is a valid lower bound (Farley's bound generalised to bin classes), so a
  time-limited run still returns a proven bound; at convergence it equals the LP optimum, which
  is far stronger than the volume bound when items are large relative to bins.
Used by the batch solver (a lower bound on nodes for the "fewest nodes" objective) and by
`berth bench optimal`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from berth.engine.optimal.highs import LinearProblem, solve

EPS = 1e-7
ALPHA = 0.7
"""Wentges dual smoothing: price at ALPHA * best-bound duals + (1 - ALPHA) * master duals."""


@dataclass(frozen=True)
class BinBound:
    volume: int
    configuration: int
    lp_value: float
    converged: bool
    columns: int
    iterations: int
    seconds: float

    @property
    def best(self) -> int:
        return max(self.volume, self.configuration)


def volume_bound(sizes: np.ndarray, demand: np.ndarray, capacity: np.ndarray, available: np.ndarray) -> int:
    """Fewest bins whose summed capacity covers the total demand in every dimension."""
    sizes, capacity = np.atleast_2d(sizes), np.atleast_2d(capacity)
    need = demand @ sizes
    best = 0
    for d in range(sizes.shape[1]):
        if need[d] <= 0:
            continue
        caps = np.repeat(capacity[:, d], available)
        caps = np.sort(caps)[::-1]
        covered = np.searchsorted(np.cumsum(caps), need[d] - EPS) + 1
        best = max(best, int(covered) if covered <= len(caps) else len(caps) + 1)
    return best


class ConfigurationLP:
    """Column generation for the configuration LP (see module doc)."""

    def __init__(self, sizes, demand, capacity, available, compat=None) -> None:
        self.sizes = np.atleast_2d(np.asarray(sizes, float))
        self.demand = np.asarray(demand, float)
        self.capacity = np.atleast_2d(np.asarray(capacity, float))
        self.available = np.asarray(available, float)
        t, c = len(self.demand), len(self.available)
        self.compat = np.ones((t, c), bool) if compat is None else np.asarray(compat, bool)
        self.columns: list[tuple[int, np.ndarray]] = self._first_fit_patterns()
        for cls in range(c):
            for ty in np.flatnonzero(self.compat[:, cls]):
                most = self._max_copies(ty, cls)
                if most > 0:
                    pattern = np.zeros(t)
                    pattern[ty] = min(most, self.demand[ty])
                    self.columns.append((cls, pattern))

    def _first_fit_patterns(self) -> list[tuple[int, np.ndarray]]:
        """Patterns of a first-fit-decreasing packing (largest normalised size first)."""
        scale = self.capacity.max(axis=0)
        scale[scale == 0] = 1
        order = np.argsort(-(self.sizes / scale).sum(axis=1))
        bins: list[tuple[int, np.ndarray, np.ndarray]] = []
        left = self.available.copy()
        for ty in order:
            for _ in range(int(self.demand[ty])):
                spot = next((b for b in bins if self.compat[ty, b[0]] and np.all(b[1] >= self.sizes[ty] - EPS)), None)
                if spot is None:
                    cls = next((c for c in range(len(left)) if left[c] >= 1 and self.compat[ty, c]
                                and np.all(self.capacity[c] >= self.sizes[ty] - EPS)), None)
                    if cls is None:
                        break
                    left[cls] -= 1
                    spot = (cls, self.capacity[cls].copy(), np.zeros(len(self.demand)))
                    bins.append(spot)
                spot[1][:] -= self.sizes[ty]
                spot[2][ty] += 1
        unique = {(c, pat.tobytes()): (c, pat) for c, _, pat in bins}
        return list(unique.values())

    def _max_copies(self, ty: int, cls: int) -> int:
        need = self.sizes[ty]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(need > 0, self.capacity[cls] / need, np.inf)
        return int(np.floor(ratio.min() + EPS)) if np.isfinite(ratio.min()) else int(self.demand[ty])

    def _master(self) -> tuple[float | None, np.ndarray, np.ndarray]:
        p = LinearProblem(maximize=False)
        cols = [p.add_col(1.0) for _ in self.columns]
        for ty in range(len(self.demand)):
            p.add_row({j: pat[ty] for j, (_, pat) in zip(cols, self.columns) if pat[ty]}, lo=self.demand[ty])
        for cls in range(len(self.available)):
            p.add_row({j: 1.0 for j, (c, _) in zip(cols, self.columns) if c == cls}, hi=self.available[cls])
        sol = solve(p, time_limit=30.0)
        t = len(self.demand)
        return sol.value, np.maximum(sol.duals[:t], 0), np.minimum(sol.duals[t:], 0)

    def _price(self, cls: int, pi: np.ndarray, time_limit: float) -> tuple[float, np.ndarray | None]:
        """(proven upper bound on max pi.a over patterns of class `cls`, best pattern found)."""
        p = LinearProblem(maximize=True)
        types = [ty for ty in np.flatnonzero(self.compat[:, cls]) if pi[ty] > EPS]
        if not types:
            return 0.0, None
        cols = {ty: p.add_col(pi[ty], 0, float(min(self.demand[ty], self._max_copies(ty, cls))), True) for ty in types}
        for d in range(self.sizes.shape[1]):
            row = {cols[ty]: self.sizes[ty, d] for ty in types}
            p.add_row(row, hi=self.capacity[cls, d])
        sol = solve(p, time_limit)
        pattern = None
        if sol.value is not None:
            pattern = np.zeros(len(self.demand))
            for ty, j in cols.items():
                pattern[ty] = round(sol.x[j])
        return (sol.bound if sol.bound is not None else float(pi @ self.demand)), pattern

    def run(self, time_limit: float = 10.0, max_iterations: int = 200) -> BinBound:
        """Generate columns until no pattern has negative reduced cost or time runs out."""
        started = time.perf_counter()
        volume = volume_bound(self.sizes, self.demand, self.capacity, self.available.astype(int))
        best, value, converged, it = 0.0, math.inf, False, 0
        stable: tuple[np.ndarray, np.ndarray] | None = None
        for it in range(1, max_iterations + 1):
            value, pi, lam = self._master()
            if value is None:
                break
            left = max(0.1, time_limit - (time.perf_counter() - started))
            for alpha in (ALPHA, 0.0) if stable is not None else (0.0,):
                duals = (pi, lam) if not alpha else (alpha * stable[0] + (1 - alpha) * pi,
                                                     alpha * stable[1] + (1 - alpha) * lam)
                lagrange, added = self._pricing_round(duals, (pi, lam), min(left, 5.0))
                if lagrange > best:
                    best, stable = lagrange, duals
                stable = stable or duals
                if added:
                    break
            if not added:
                converged = True
                best = max(best, value)
                break
            if time.perf_counter() - started > time_limit:
                break
        lower = int(math.ceil(best - 1e-6))
        return BinBound(volume, lower, float(value) if value is not None else math.nan, converged,
                        len(self.columns), it, time.perf_counter() - started)


    def _pricing_round(self, duals, master, time_limit: float) -> tuple[float, int]:
        """Price every class at `duals`; add columns improving the `master` duals.  Returns the
        Lagrangian bound at `duals` and how many columns were added."""
        pi, lam = duals
        lagrange, added = float(pi @ self.demand + lam @ self.available), 0
        for cls in range(len(self.available)):
            v_ub, pattern = self._price(cls, pi, time_limit)
            lagrange += self.available[cls] * min(0.0, 1 - lam[cls] - v_ub)
            if pattern is not None and pattern @ master[0] + master[1][cls] > 1 + 1e-6:
                self.columns.append((cls, pattern))
                added += 1
        return lagrange, added


def configuration_bound(sizes, demand, capacity, available, compat=None, time_limit: float = 10.0) -> BinBound:
    """Volume and configuration-LP lower bounds on the bins needed (see module doc)."""
    return ConfigurationLP(sizes, demand, capacity, available, compat).run(time_limit)
