"""The CP-SAT model of one batch on an explicit set of candidate nodes, over workload types.

Workloads of one type (`aggregate.group_types`: same shape and priority) are interchangeable, so
the model counts rather than names them: x[t,n] is how many workloads of type t go to candidate
row n (sum_n x[t,n] <= n_t); a GPU share type also gets s[t,n,d], how many of its shares sit on
device d (sum_d s = x), and whole-GPU types take wholly free devices z[n,d]
(sum_d z = sum_t k_t x[t,n]).  Rows honour every scalar dimension, the pod count and each
device's free milli-GPU; identical free devices are ordered by load to break symmetry;
anti-affinity allows one member of a group per node (or per zone).  Selectors, GPU models and
taints are honoured by construction: candidates come from the engine's own filters.

The objective is lexicographic, packed into one integer: SCALE * (sum of integer weights placed)
- (secondary), the secondary counting nodes newly put in use (`nodes`) or wholly free devices
newly opened by a share (`fragmentation`), or nothing (`none`).  A hint (normally the best heuristic's placement)
warm-starts the search; the result carries the proven bound on the weight.  `decode` names
which workload goes where.  Called by `berth.engine.optimal.batch`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from berth.engine.optimal.aggregate import WorkloadType
from berth.engine.optimal.bounds import DFF_ORDERS, dff
from berth.engine.snapshot import UNLIMITED_PODS, Snapshot
from berth.model import GPU_WHOLE

Assignment = dict[int, tuple[int, tuple[int, ...]]]
"""Workload index (in the batch) -> (snapshot row, GPU devices)."""


@dataclass(frozen=True)
class ChunkResult:
    assignment: Assignment
    primary: int
    primary_bound: int
    secondary: int
    status: str
    seconds: float


class ChunkModel:
    """Builds the model over `types` with per-type candidate rows; `solve` runs CP-SAT."""

    def __init__(self, snap: Snapshot, types: list[WorkloadType], weights: list[int],
                 candidates: list[np.ndarray], secondary: str = "nodes",
                 identical: list[list[int]] = ()) -> None:
        self.snap, self.types, self.weights = snap, types, weights
        self.m = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.s: dict[tuple[int, int, int], cp_model.IntVar] = {}
        self.z: dict[tuple[int, int], cp_model.IntVar] = {}
        self.by_row: dict[int, list[int]] = {}
        for t, rows in enumerate(candidates):
            for n in map(int, rows):
                most = self._most(t, n)
                if most > 0:
                    self.x[t, n] = self.m.NewIntVar(0, most, f"x{t}_{n}")
                    self.by_row.setdefault(n, []).append(t)
        for t in range(len(types)):
            mine = [v for (k, _), v in self.x.items() if k == t]
            if mine:
                self.m.Add(sum(mine) <= types[t].count)
        for n, members in self.by_row.items():
            self._node(n, members)
        self._anti_affinity()
        self.identical, self.used = list(identical), {}
        self._order_nodes(identical)
        self.penalties = self._secondary(secondary)
        self.scale = len(self.penalties) + 1
        placed = sum(weights[t] * v for (t, _), v in self.x.items())
        self.m.Maximize(self.scale * placed - sum(self.penalties))

    def _most(self, t: int, n: int) -> int:
        """Most workloads of type t that row n could take alone."""
        snap, wt = self.snap, self.types[t]
        most = wt.count
        need = wt.request
        for d in np.flatnonzero(need):
            most = min(most, int(snap.free[n, d] // need[d]))
        most = min(most, int(snap.pods_free[n]))
        if wt.gpu_count:
            free = snap.devices(n)
            most = min(most, int((free // wt.gpu_milli).sum()) // wt.gpu_count)
        if wt.example.anti_affinity:
            most = min(most, 1)
        return most

    def _node(self, n: int, members: list[int]) -> None:
        snap, m = self.snap, self.m
        for d in range(len(snap.dims)):
            terms = [(int(self.types[t].request[d]), self.x[t, n]) for t in members if self.types[t].request[d]]
            if terms:
                m.Add(sum(c * v for c, v in terms) <= int(snap.free[n, d]))
        if snap.pods_free[n] < UNLIMITED_PODS:
            m.Add(sum(self.x[t, n] for t in members) <= int(snap.pods_free[n]))
        self._devices(n, members)

    def _devices(self, n: int, members: list[int]) -> None:
        snap, m = self.snap, self.m
        free = snap.devices(n)
        shares = [t for t in members if 0 < self.types[t].gpu_milli < GPU_WHOLE]
        whole = [t for t in members if self.types[t].gpu_milli >= GPU_WHOLE]
        load = {d: [] for d in range(len(free))}
        for t in shares:
            need = self.types[t].gpu_milli
            fits = [d for d in range(len(free)) if free[d] >= need]
            for d in fits:
                self.s[t, n, d] = m.NewIntVar(0, int(free[d] // need), f"s{t}_{n}_{d}")
                load[d].append((need, self.s[t, n, d]))
            m.Add(sum(self.s[t, n, d] for d in fits) == self.x[t, n])
        if whole:
            full = [d for d in range(len(free)) if free[d] >= GPU_WHOLE]
            for d in full:
                self.z[n, d] = m.NewBoolVar(f"z{n}_{d}")
                load[d].append((GPU_WHOLE, self.z[n, d]))
            m.Add(sum(self.z[n, d] for d in full) == sum(self.types[t].gpu_count * self.x[t, n] for t in whole))
        for d, terms in load.items():
            if terms:
                m.Add(sum(c * v for c, v in terms) <= int(free[d]))
        self._order_devices(n, free, load)
        if shares or whole:
            self._device_cuts(n, free, shares, whole)

    def _order_devices(self, n: int, free: np.ndarray, load: dict) -> None:
        """Devices with equal free milli are interchangeable: require non-increasing load."""
        same: dict[int, list[int]] = {}
        for d, f in enumerate(free):
            if load[d]:
                same.setdefault(int(f), []).append(d)
        for devices in same.values():
            for a, b in zip(devices, devices[1:]):
                self.m.Add(sum(c * v for c, v in load[a]) >= sum(c * v for c, v in load[b]))

    def _order_nodes(self, identical) -> None:
        """Identical rows (same state, same filter verdicts) are interchangeable: require their
        placed weight to be non-increasing in row order (any solution can be so permuted)."""
        for rows in identical:
            rows = [n for n in rows if n in self.by_row]
            value = {n: sum(self.weights[t] * self.x[t, n] for t in self.by_row[n]) for n in rows}
            for a, b in zip(rows, rows[1:]):
                if set(self.by_row[a]) == set(self.by_row[b]):
                    self.m.Add(value[a] >= value[b])

    def _device_cuts(self, n: int, free: np.ndarray, shares: list[int], whole: list[int]) -> None:
        """Dual-feasible-function cuts on the node's devices (see `bounds`): redundant for the
        integer model, they tighten its linear relaxation and so the proven bound."""
        for k in DFF_ORDERS:
            budget = sum(1 - dff(k, GPU_WHOLE - int(f)) for f in free)
            terms = [(dff(k, self.types[t].gpu_milli), self.x[t, n]) for t in shares]
            terms += [(self.types[t].gpu_count, self.x[t, n]) for t in whole]
            scale = 60 * k * (k + 1)
            coeffs = [(int(round(c * scale)), v) for c, v in terms if c]
            if coeffs:
                self.m.Add(sum(c * v for c, v in coeffs) <= int(np.floor(budget * scale + 1e-9)))

    def _anti_affinity(self) -> None:
        groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for (t, n) in self.x:
            for aa in self.types[t].example.anti_affinity:
                groups.setdefault((aa.group, aa.topology), []).append((t, n))
        zones = self.snap.zone_codes()
        for (_, topology), pairs in groups.items():
            buckets: dict[int, list] = {}
            for t, n in pairs:
                buckets.setdefault(n if topology == "node" else int(zones[n]), []).append(self.x[t, n])
            for members in buckets.values():
                self.m.Add(sum(members) <= 1)

    def _secondary(self, kind: str) -> list:
        snap, out = self.snap, []
        if kind == "nodes":
            for n, members in self.by_row.items():
                if snap.is_empty(n):
                    used = self.m.NewBoolVar(f"u{n}")
                    self.used[n] = used
                    for t in members:
                        self.m.Add(self.x[t, n] == 0).OnlyEnforceIf(used.Not())
                    self._capacity_times_used(n, members, used)
                    out.append(used)
            self._order_used()
        elif kind == "fragmentation":
            opened: dict[tuple[int, int], list] = {}
            for (t, n, d), v in self.s.items():
                if snap.gpu_free[n, d] >= GPU_WHOLE:
                    opened.setdefault((n, d), []).append(v)
            for vs in opened.values():
                used = self.m.NewBoolVar("open")
                for v in vs:
                    self.m.Add(v == 0).OnlyEnforceIf(used.Not())
                out.append(used)
        return out

    def _capacity_times_used(self, n: int, members: list[int], used) -> None:
        """load <= capacity * used, per dimension and for milli-GPU: the bin-packing form whose
        linear relaxation gives the volume bound on nodes (the indicator alone gives nothing)."""
        snap = self.snap
        for d in range(len(snap.dims)):
            terms = [(int(self.types[t].request[d]), self.x[t, n]) for t in members if self.types[t].request[d]]
            if terms:
                self.m.Add(sum(c * v for c, v in terms) <= int(snap.free[n, d]) * used)
        gpu = [(self.types[t].gpu_milli * self.types[t].gpu_count, self.x[t, n]) for t in members if self.types[t].gpu_count]
        if gpu:
            self.m.Add(sum(c * v for c, v in gpu) <= int(snap.devices(n).sum()) * used)

    def _order_used(self) -> None:
        for rows in self.identical:
            rows = [n for n in rows if n in self.used]
            for a, b in zip(rows, rows[1:]):
                if set(self.by_row[a]) == set(self.by_row[b]):
                    self.m.AddImplication(self.used[b], self.used[a])

    def hint(self, counts: dict, shares: dict, whole: dict) -> None:
        """Warm start from per (type, row) counts, per (type, row, device) share counts and the
        wholly taken (row, device) pairs, devices already in the model's symmetry order."""
        for key, v in self.x.items():
            self.m.AddHint(v, counts.get(key, 0))
        for key, v in self.s.items():
            self.m.AddHint(v, shares.get(key, 0))
        for key, v in self.z.items():
            self.m.AddHint(v, whole.get(key, 0))
        for n, v in self.used.items():
            self.m.AddHint(v, any(counts.get((t, n), 0) for t in self.by_row[n]))

    def solve(self, time_limit: float, workers: int = 2, seed: int = 0) -> tuple[ChunkResult, cp_model.CpSolver]:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = float(time_limit)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        code = solver.Solve(self.m)
        status = solver.StatusName(code)
        total = int(sum(w * t.count for w, t in zip(self.weights, self.types)))
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return ChunkResult({}, 0, total, 0, status, solver.WallTime()), solver
        primary = int(sum(self.weights[t] * solver.Value(v) for (t, _), v in self.x.items()))
        secondary = int(sum(solver.Value(p) for p in self.penalties))
        bound = int(np.floor((solver.BestObjectiveBound() + len(self.penalties)) / self.scale + 1e-9))
        if code == cp_model.OPTIMAL:
            bound = primary
        return ChunkResult(self.decode(solver), primary, max(bound, primary), secondary, status,
                           solver.WallTime()), solver

    def decode(self, solver: cp_model.CpSolver) -> Assignment:
        """Name the workloads: each type's members in batch order fill its (row, device) slots."""
        slots: dict[int, list[tuple[int, tuple[int, ...]]]] = {t: [] for t in range(len(self.types))}
        wholes = {n: [d for d in range(self.snap.gpu_count[n]) if (n, d) in self.z and solver.Value(self.z[n, d])]
                  for n in self.by_row}
        for (t, n), v in sorted(self.x.items(), key=lambda kv: (kv[0][1], -self.types[kv[0][0]].gpu_count)):
            count, wt = solver.Value(v), self.types[t]
            if not count:
                continue
            if 0 < wt.gpu_milli < GPU_WHOLE:
                for d in range(self.snap.gpu_count[n]):
                    key = (t, n, d)
                    slots[t] += [(n, (d,))] * (solver.Value(self.s[key]) if key in self.s else 0)
            elif wt.gpu_milli >= GPU_WHOLE:
                for _ in range(count):
                    slots[t].append((n, tuple(wholes[n][: wt.gpu_count])))
                    wholes[n] = wholes[n][wt.gpu_count:]
            else:
                slots[t] += [(n, ())] * count
        return {i: slot for t, wt in enumerate(self.types) for i, slot in zip(wt.members, slots[t])}
