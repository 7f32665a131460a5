"""One node's possible contents as a small MIP, and the node classes it is built for.

`Pricing(agg, cls, index)` writes into a HiGHS `LinearProblem` what one node of a class can
hold: counts a[t] per workload type within every scalar dimension and the pod count, and the
GPU side through device *layouts*: `layouts(f, sizes)` lists the maximal multisets of share
sizes that fit a device with f free milli-GPU; y[f, q] devices of free amount f take layout q,
z wholly free devices go to whole-GPU workloads, and the share workloads of each size fit the
slots of that size the chosen layouts provide.  Workloads of one share size are
interchangeable on the devices, so the formulation is exact, and it has none of the device
symmetry of a per-device model.  `Pricing.solve` is the column-generation pricing problem
(`columns`); `Pricing.build` also serves the compact model over all nodes (`compact`).
A `Pattern` is one node's content with its device layout; `lay_out` turns patterns placed on
rows into the batch solver's assignment (workload index -> row, devices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.engine.optimal.aggregate import Aggregate
from berth.engine.optimal.highs import LinearProblem, solve
from berth.engine.snapshot import UNLIMITED_PODS
from berth.model import GPU_WHOLE

EPS = 1e-6
PRICE_LIMIT = 2.0
"""Seconds at most for one pricing MIP."""
Assignment = dict[int, tuple[int, tuple[int, ...]]]


@dataclass(frozen=True)
class Pattern:
    """What one node of class `cls` holds: `counts[t]`, and per device (in the class's sorted
    device order) the workload types on it (a whole-GPU type's device lists it once)."""

    cls: int
    counts: tuple[int, ...]
    devices: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ColumnClass:
    """Interchangeable rows: equal state, equal filter verdicts, and all empty or none."""

    rows: tuple[int, ...]
    free: np.ndarray
    pods_free: int
    devices: tuple[int, ...]
    empty: bool
    types: tuple[int, ...]


def column_classes(snap, agg: Aggregate) -> list[ColumnClass]:
    """The aggregate's classes split by emptiness, rows sorted, devices in sorted order."""
    out = []
    for c, cls in enumerate(agg.classes):
        groups: dict[bool, list[int]] = {}
        for row in cls.rows:
            groups.setdefault(snap.is_empty(row), []).append(row)
        types = tuple(int(t) for t in np.flatnonzero(agg.compat[:, c]))
        for empty, rows in groups.items():
            out.append(ColumnClass(tuple(sorted(rows)), cls.free, cls.pods_free, cls.devices, empty, types))
    return out


def new_nodes(snap, assignment: Assignment) -> int:
    """Nodes an assignment puts in use that held nothing before."""
    return sum(1 for r in {row for row, _ in assignment.values()} if snap.is_empty(r))


def layouts(free: int, sizes: tuple[int, ...], cap: int) -> list[tuple[int, ...]] | None:
    """Maximal multisets of share sizes fitting one device with `free` milli (counts per size,
    in `sizes` order); None past `cap` of them.  Any layout of shares is a sub-multiset of one."""
    out: list[tuple[int, ...]] = []

    def grow(i: int, left: int, acc: list[int]) -> bool:
        if i == len(sizes):
            if not any(m <= left for m in sizes):
                out.append(tuple(acc))
            return len(out) <= cap
        for n in range(left // sizes[i], -1, -1):
            if not grow(i + 1, left - n * sizes[i], acc + [n]):
                return False
        return True

    return out if grow(0, free, []) else None


class Pricing:
    """The pricing MIP of one class: max sum_t v_t a_t over what one node can hold.

    Devices enter through their layouts (`layouts`): y[f, q] devices of free amount f hold
    layout q, z wholly free devices go to whole-GPU workloads, and the share workloads of each
    size m fit in the slots of that size the layouts provide.  Workloads of one share size are
    interchangeable on the devices, so this is exact and has no device symmetry."""

    LAYOUT_CAP = 3000

    def __init__(self, agg: Aggregate, cls: ColumnClass, index: int) -> None:
        self.agg, self.cls, self.index = agg, cls, index
        self.most = {t: self._most(t) for t in cls.types}
        self.sizes = tuple(sorted({agg.types[t].gpu_milli for t in cls.types
                                   if 0 < agg.types[t].gpu_milli < GPU_WHOLE and self.most[t] > 0}, reverse=True))
        self.free_amounts = sorted(set(cls.devices))
        self.layouts = {f: layouts(f, self.sizes, self.LAYOUT_CAP) if self.sizes else [] for f in self.free_amounts}
        self.ok = all(v is not None for v in self.layouts.values())

    def _most(self, t: int) -> int:
        wt, cls = self.agg.types[t], self.cls
        most = wt.count
        for d in np.flatnonzero(wt.request):
            most = min(most, int(cls.free[d] // wt.request[d]))
        most = min(most, cls.pods_free)
        if wt.gpu_count:
            most = min(most, sum(f // wt.gpu_milli for f in cls.devices) // wt.gpu_count)
        if wt.example.anti_affinity:
            most = min(most, 1)
        return max(0, int(most))

    def solve(self, values: np.ndarray, time_limit: float) -> tuple[float, Pattern | None]:
        """(proven upper bound on the best value, best pattern found or None)."""
        types = [t for t in self.cls.types if values[t] > EPS and self.most[t] > 0]
        if not types:
            return 0.0, None
        p = LinearProblem(maximize=True)
        a, y, z = self.build(p, values, types)
        sol = solve(p, min(time_limit, PRICE_LIMIT))
        bound = sol.bound if sol.bound is not None else float(sum(values[t] * self.most[t] for t in types))
        if sol.value is None:
            return bound, None
        return bound, self._pattern(sol.x, a, y, z)

    def build(self, p: LinearProblem, values: np.ndarray, types: list[int]):
        """One node's columns and rows in `p`: counts a[t] (objective values[t]), layouts y, z."""
        a = {t: p.add_col(float(values[t]), 0, float(self.most[t]), True) for t in types}
        self._scalar_rows(p, a, types)
        y, z = self._device_rows(p, a, types)
        self._anti_affinity_rows(p, a, types)
        return a, y, z

    def _scalar_rows(self, p: LinearProblem, a: dict, types: list[int]) -> None:
        agg, cls = self.agg, self.cls
        for d in range(len(cls.free)):
            row = {a[t]: float(agg.types[t].request[d]) for t in types if agg.types[t].request[d]}
            if row:
                p.add_row(row, hi=float(cls.free[d]))
        if cls.pods_free < UNLIMITED_PODS:
            p.add_row({a[t]: 1.0 for t in types}, hi=float(cls.pods_free))

    def _device_rows(self, p: LinearProblem, a: dict, types: list[int]):
        agg, cls = self.agg, self.cls
        y: dict[tuple[int, int], int] = {}
        slots: dict[int, dict[int, float]] = {m: {} for m in self.sizes}
        for f in self.free_amounts:
            n_f = float(sum(1 for d in cls.devices if d == f))
            for q, layout in enumerate(self.layouts[f]):
                if any(layout):
                    y[f, q] = p.add_col(0.0, 0, n_f, True)
                    for m, c in zip(self.sizes, layout):
                        if c:
                            slots[m][y[f, q]] = float(c)
        wholes = [t for t in types if agg.types[t].gpu_milli >= GPU_WHOLE]
        z = p.add_col(0.0, 0, float(sum(1 for d in cls.devices if d >= GPU_WHOLE)), True) if wholes else None
        for f in self.free_amounts:
            row = {j: 1.0 for (ff, _), j in y.items() if ff == f}
            if z is not None and f >= GPU_WHOLE:
                row[z] = 1.0
            if row:
                p.add_row(row, hi=float(sum(1 for d in cls.devices if d == f)))
        if z is not None:
            p.add_row({**{a[t]: float(agg.types[t].gpu_count) for t in wholes}, z: -1.0}, hi=0)
        for m in self.sizes:
            row = {a[t]: 1.0 for t in types if agg.types[t].gpu_milli == m}
            if row:
                p.add_row({**row, **{j: -c for j, c in slots[m].items()}}, hi=0)
        return y, z

    def _anti_affinity_rows(self, p: LinearProblem, a: dict, types: list[int]) -> None:
        groups: dict[str, list[int]] = {}
        for t in types:
            for aa in self.agg.types[t].example.anti_affinity:
                groups.setdefault(aa.group, []).append(a[t])
        for cols in groups.values():
            if len(cols) > 1:
                p.add_row({j: 1.0 for j in cols}, hi=1.0)

    def _pattern(self, x: np.ndarray, a: dict, y: dict, z: int | None) -> Pattern:
        """Lay the chosen counts out on the class's devices (sorted order)."""
        agg, cls = self.agg, self.cls
        counts = [0] * len(agg.types)
        for t, j in a.items():
            counts[t] = int(round(x[j]))
        devices: list[list[int]] = [[] for _ in cls.devices]
        spare = {f: [j for j, d in enumerate(cls.devices) if d == f] for f in self.free_amounts}
        slots: dict[int, list[int]] = {m: [] for m in self.sizes}
        for (f, q), col in sorted(y.items()):
            for _ in range(int(round(x[col]))):
                j = spare[f].pop(0)
                for m, c in zip(self.sizes, self.layouts[f][q]):
                    slots[m] += [j] * c
        for t, n in enumerate(counts):
            m, k = agg.types[t].gpu_milli, agg.types[t].gpu_count
            for _ in range(n):
                if 0 < m < GPU_WHOLE:
                    devices[slots[m].pop(0)].append(t)
                elif k:
                    for _ in range(k):
                        devices[spare[max(self.free_amounts)].pop(0)].append(t)
        return Pattern(self.index, tuple(counts), tuple(tuple(d) for d in devices))


def lay_out(snap, agg: Aggregate, placed: list[tuple[int, Pattern]]) -> Assignment:
    """Type members (batch indices, in order) onto the (row, pattern) pairs, the pattern's
    device order mapped to the row's devices sorted by free amount."""
    queue = {t: list(wt.members) for t, wt in enumerate(agg.types)}
    out: Assignment = {}
    for row, pattern in placed:
        order = np.argsort(snap.devices(row), kind="stable")
        devs: dict[int, list[int]] = {}
        for j, ts in enumerate(pattern.devices):
            for t in ts:
                devs.setdefault(t, []).append(int(order[j]))
        for t, n in enumerate(pattern.counts):
            k = agg.types[t].gpu_count
            for i in range(n):
                mine = devs.get(t, [])[i * k: (i + 1) * k] if k else []
                out[queue[t].pop(0)] = (row, tuple(mine))
    return out
