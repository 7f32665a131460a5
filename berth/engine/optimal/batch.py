"""Batch placement: the best heuristic, improved by HiGHS or CP-SAT, with a proven bound and gap.

`place_batch(engine, workloads, ...)` places a queue jointly:

1. Workloads no node can take at all get the engine's `Unschedulable` reasons at once.
2. Every heuristic policy named (default: the engine's own, `best-fit`, and `fgd` when the
   context carries a workload mix) places the batch one by one on a copy of the snapshot; the
   best (most weight placed, then fewest new nodes) is the incumbent and the solver's hint.
   With `live=True` the incumbent is instead the engine's own policy on the live snapshot
   (exactly what online decisions would do), handed back before solving.
3. The proven bound on the weight is the aggregated relaxation of `bounds` (valid for any
   placement of the batch), tightened by CP-SAT's own bound when its model was exact.
4. Few node classes (an empty or small cluster: at most `compact.MAX_ROWS` candidate rows):
   the compact layout MIP of `compact` (HiGHS), phase 1 for the weight, then for the `nodes`
   secondary the configuration-LP bound of `columns` and phase 2 for the fewest new nodes.
   When it proves both, that is the answer ("compact"); otherwise its best placement and
   proven weight bound warm-start the CP-SAT model below with the time left.
5. Decomposition.  Nodes in one equivalence class (`aggregate`: same free resources, same
   per-device free amounts, same verdict of every filter for every workload type of the chunk)
   are interchangeable, so a chunk keeps only as many of them as it has workloads able to use
   them; when that is all of them, the CP-SAT model is exact.  Past about `EXACT_CELLS`
   (workload type, node) cells the model is restricted: each type keeps the nodes the
   incumbent used for it and the tightest few representatives of the classes it fits (plus one
   empty node).  Past `CHUNK` workloads the batch is solved as a rolling
   horizon: consecutive chunks in queue order, each on the snapshot the previous ones left, each
   warm-started from the heuristic continued from that state, the time budget shared out.
6. The solver's answer replaces the incumbent only when it places at least as much weight (with
   `prefer_hint`, strictly more; and the solver is skipped when the incumbent already meets the
   bound), so the result is never worse than the best heuristic; a greedy pass with the engine's
   policy then places anything left out that still fits.  Workloads still unplaced get the
   engine's reasons.
A time-limited solve therefore always returns a placement and its gap; nothing here raises for
an infeasible batch.  Called as `place_batch(engine, workloads, ...)` by the simulator and the
benchmarks; it uses only the engine's public calls, and the engine does not import this module.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from berth.engine.engine import Engine
from berth.engine.optimal.aggregate import aggregate, feasible_rows
from berth.engine.optimal.bounds import AllocationModel
from berth.engine.optimal.compact import prove
from berth.engine.optimal.cpsat import Assignment, ChunkModel
from berth.engine.optimal.layouts import new_nodes
from berth.engine.status import Placement, Unschedulable
from berth.model import GPU_WHOLE, Workload

CHUNK = 250
RESERVE = 0.1
"""Share of the time limit kept for applying the result and the final greedy pass."""
CHUNK_OVERHEAD = 0.5
"""Seconds a chunk spends outside CP-SAT (model building, decoding), taken from its budget."""
MIN_SOLVE = 0.3
EXACT_CELLS = 20_000
"""Above this many (type, row[, device]) cells a chunk's model is restricted (see module doc)."""
TIGHTEST = 8


def priority_weight(w: Workload) -> int:
    """Default primary weight: 1 + priority (negative priorities count as 0)."""
    return 1 + max(0, w.priority)


@dataclass
class BatchResult:
    """What `place_batch` did: placements, reasons, the weight reached, its proven bound, the gap."""

    placements: dict[str, Placement] = field(default_factory=dict)
    unschedulable: dict[str, Unschedulable] = field(default_factory=dict)
    weight: int = 0
    bound: int = 0
    heuristic: str = ""
    heuristic_weight: int = 0
    secondary: int = 0
    secondary_bound: float | None = None
    """Proven lower bound on the new nodes at the weight reached (`nodes` secondary; None: not proven)."""
    status: str = "optimal"
    """`optimal` (proven, secondary included), `weight-optimal` (weight = bound) or `feasible`."""
    method: str = "heuristic"
    solver_status: str = "skipped"
    seconds: float = 0.0

    @property
    def gap(self) -> float:
        """(bound - weight) / bound: 0 means proven optimal."""
        return 0.0 if self.bound <= 0 else max(0.0, (self.bound - self.weight) / self.bound)

    def to_dict(self) -> dict:
        return {"placed": len(self.placements), "unschedulable": len(self.unschedulable), "weight": self.weight,
                "bound": self.bound, "gap": self.gap, "heuristic": self.heuristic,
                "heuristic_weight": self.heuristic_weight, "secondary": self.secondary,
                "secondary_bound": self.secondary_bound, "status": self.status,
                "method": self.method, "solver_status": self.solver_status, "seconds": self.seconds}


def clone(snap):
    """An independent copy of a snapshot's state (node definitions, which are frozen, shared)."""
    new = copy.copy(snap)
    for name, value in vars(snap).items():
        if isinstance(value, np.ndarray):
            setattr(new, name, value.copy())
    new.nodes, new.index, new.changes = list(snap.nodes), dict(snap.index), list(snap.changes)
    new.groups = {k: v.copy() for k, v in snap.groups.items()}
    new.gpu_tags = {k: v.copy() for k, v in snap.gpu_tags.items()}
    for name in ("_static", "_vectors", "_values", "_unknown", "_derived", "_classes"):
        setattr(new, name, dict(getattr(snap, name)))
    return new


def run_heuristic(snap, workloads: Sequence[Workload], policy, context, seed: int = 0) -> Assignment:
    """Place `workloads` one by one with `policy` on a copy of `snap`; index -> (row, devices)."""
    engine = Engine(clone(snap), policy, seed=seed, context=context)
    out: Assignment = {}
    for i, w in enumerate(workloads):
        if engine.place(w).ok:
            out[i] = engine.where(w.name)
    return out


class BatchSolver:
    """One batch on one engine; see the module doc for the steps."""

    def __init__(self, engine, workloads: Sequence[Workload], *, time_limit: float = 10.0,
                 heuristics: Sequence[str] | None = None, context=None, secondary: str = "nodes",
                 weight: Callable[[Workload], int] = priority_weight, workers: int = 2,
                 prefer_hint: bool = False, live: bool = False) -> None:
        self.engine, self.snap, self.workloads = engine, engine.snapshot, list(workloads)
        self.time_limit, self.context, self.secondary, self.workers = time_limit, context, secondary, workers
        self.weights = [int(weight(w)) for w in self.workloads]
        self.prefer_hint, self.live = prefer_hint, live
        self.reserve = RESERVE * time_limit
        names = list(heuristics) if heuristics else [engine.policy.name, "best-fit"]
        if not heuristics and context is not None and context.mix:
            names.append("fgd")
        self.heuristics = list(dict.fromkeys(names))
        self.started = time.perf_counter()
        self.nodes_bound: float | None = None

    def left(self) -> float:
        return max(0.05, self.time_limit - (time.perf_counter() - self.started))

    def run(self) -> BatchResult:
        result = BatchResult()
        live = [i for i, w in enumerate(self.workloads) if feasible_rows(self.snap, w).any()]
        for i in sorted(set(range(len(self.workloads))) - set(live)):
            result.unschedulable[self.workloads[i].name] = self.engine.explain(self.workloads[i])
        batch = [self.workloads[i] for i in live]
        weights = [self.weights[i] for i in live]
        best_name, incumbent = self._live(batch) if self.live else self._best_heuristic(batch, weights)
        result.heuristic, result.heuristic_weight = best_name, sum(weights[i] for i in incumbent)
        everything = result.heuristic_weight == sum(weights)
        result.bound = result.heuristic_weight if everything else self._relaxation_bound(batch, weights)
        self._before = clone(self.snap)
        assignment, proven = incumbent, False
        if result.heuristic_weight < result.bound or not self.prefer_hint:
            found, exact_bound, result.method, result.solver_status = self._improve(batch, weights, incumbent,
                                                                                   result.bound)
            if exact_bound is not None:
                result.bound = min(result.bound, exact_bound)
                proven = result.solver_status == "OPTIMAL"
            better = sum(weights[i] for i in found) > result.heuristic_weight
            if better or (not self.prefer_hint and sum(weights[i] for i in found) == result.heuristic_weight):
                assignment = found
        self._apply(batch, assignment, result)
        result.weight = sum(weights[i] for i, w in enumerate(batch) if w.name in result.placements)
        result.bound = max(result.bound, result.weight)
        result.secondary = new_nodes(self._before, assignment)
        if self.secondary == "nodes":
            result.secondary_bound = result.secondary if proven else self.nodes_bound
        nothing_new = self.secondary == "none" or (self.secondary == "nodes" and result.secondary == 0)
        if proven or (result.weight >= result.bound and (self.prefer_hint or nothing_new)):
            result.status = "optimal"
        else:
            result.status = "weight-optimal" if result.weight >= result.bound else "feasible"
        result.seconds = time.perf_counter() - self.started
        return result

    def _live(self, batch) -> tuple[str, Assignment]:
        """The engine's own policy places the batch in order on the live snapshot (keeping its
        caches, as online decisions would); the placements are then handed back so the solver
        starts from the state before the batch."""
        placed = [i for i, w in enumerate(batch) if self.engine.place(w).ok]
        found: Assignment = {}
        for i in placed:      # where each ended: a later repair may have moved an earlier one
            found[i] = self.engine.where(batch[i].name)
        for i in found:
            self.engine.release(batch[i].name)
        self.best_heuristic = self.engine.policy.name
        return self.engine.policy.name, found

    def _best_heuristic(self, batch, weights) -> tuple[str, Assignment]:
        best = ("", {}, (-1, 0))
        for name in self.heuristics:
            try:
                found = run_heuristic(self.snap, batch, name, self.context)
            except Exception as err:  # a heuristic needing what the context lacks (fgd without a mix)
                if type(err).__name__ != "ValidationError":
                    raise
                continue
            key = (sum(weights[i] for i in found), -new_nodes(self.snap, found))
            if key > best[2]:
                best = (name, found, key)
        self.best_heuristic = best[0] or self.heuristics[0]
        return best[0], best[1]

    def _relaxation_bound(self, batch, weights) -> int:
        agg = aggregate(self.snap, batch)
        type_weight = np.array([weights[t.members[0]] for t in agg.types], float)
        zones = len(set(self.snap.zone_codes().tolist())) if len(self.snap) else 1
        return int(AllocationModel(agg, type_weight, zones).solve(time_limit=min(5.0, self.left())).bound)

    def _improve(self, batch, weights, incumbent: Assignment, bound: int):
        """The compact model when it applies, else (or if it proved nothing) a single
        exact/restricted CP-SAT model, or a rolling horizon over chunks:
        (assignment, proven bound if the model was exact, method, solver status)."""
        if len(batch) <= CHUNK:
            proof = self._compact(batch, weights, incumbent, bound)
            if proof is not None and proof.optimal:
                return proof.assignment, int(proof.weight_bound), "compact", "OPTIMAL"
            if proof is not None:
                incumbent, bound = proof.assignment, int(proof.weight_bound)
            budget = self.left() - self.reserve - CHUNK_OVERHEAD
            if proof is not None and budget < MIN_SOLVE:
                return incumbent, bound, "compact", proof.status
            assignment, found_bound, exact, status = self._solve_chunk(self.snap, batch, weights, incumbent,
                                                                       max(MIN_SOLVE, budget))
            if proof is not None:
                return assignment, min(bound, found_bound) if exact else bound, "compact+cp-sat", status
            return assignment, found_bound if exact else None, "exact" if exact else "restricted", status
        work = clone(self.snap)
        total: Assignment = {}
        starts = list(range(0, len(batch), CHUNK))
        status = "OPTIMAL"
        for k, start in enumerate(starts):
            part = batch[start: start + CHUNK]
            hint = run_heuristic(work, part, self.best_heuristic, self.context)
            budget = (self.left() - self.reserve) / (len(starts) - k) - CHUNK_OVERHEAD
            if budget < MIN_SOLVE:
                found, chunk_status = hint, "NOT_RUN"
            else:
                found, _, _, chunk_status = self._solve_chunk(work, part, weights[start: start + CHUNK], hint, budget)
            if chunk_status != "OPTIMAL":
                status = chunk_status
            for i, (row, devs) in found.items():
                work.assign(row, part[i], devs)
                total[start + i] = (row, devs)
        return total, None, "rolling-horizon", status

    def _compact(self, batch, weights, incumbent: Assignment, bound: int):
        """The two-phase compact MIP (`compact.prove`) within most of the time left; None when
        it does not apply (too many candidate rows, zone anti-affinity, too many layouts)."""
        agg = aggregate(self.snap, batch)
        type_weights = [weights[t.members[0]] for t in agg.types]
        deadline = time.perf_counter() + max(MIN_SOLVE, self.left() - self.reserve)
        proof = prove(self.snap, agg, type_weights, incumbent, bound, self.secondary, deadline)
        if proof is not None:
            self.nodes_bound = proof.nodes_bound
        return proof

    def _solve_chunk(self, snap, part, weights, hint: Assignment, budget: float):
        """(assignment, proven bound of the chunk model, whether that model was exact, status);
        `budget` covers building the model as well as solving it."""
        began = time.perf_counter()
        agg = aggregate(snap, part)
        canonical = _canonical_rows(agg, part, hint, snap, weights)
        candidates, exact = self._candidates(snap, agg, canonical)
        if exact:
            hint = canonical
        type_weights = [weights[t.members[0]] for t in agg.types]
        identical = [list(c.rows) for c in agg.classes if c.count > 1] if exact else []
        model = ChunkModel(snap, agg.types, type_weights, candidates, self.secondary, identical=identical)
        model.hint(*_hint_counts(agg, part, hint, snap))
        solved, _ = model.solve(max(MIN_SOLVE, budget - (time.perf_counter() - began)), self.workers)
        hinted = sum(weights[i] for i in hint)
        if not solved.assignment or solved.primary < hinted:
            return hint, solved.primary_bound, exact, solved.status
        return solved.assignment, solved.primary_bound, exact, solved.status

    def _candidates(self, snap, agg, hint: Assignment) -> tuple[list[np.ndarray], bool]:
        """Per type, its candidate rows (class representatives); exact unless trimmed.

        A class keeps as many rows as the chunk has workloads able to use it (the incumbent's
        rows first), which loses nothing: its rows are interchangeable."""
        counts = np.array([t.count for t in agg.types])
        need = counts @ agg.compat
        hinted = {row for row, _ in hint.values()}
        keep = []
        for c, cls in enumerate(agg.classes):
            rows = sorted(cls.rows, key=lambda r: r not in hinted)
            keep.append(rows[: max(int(need[c]), sum(r in hinted for r in rows))])
        reps = [np.array(sorted(r for c in np.flatnonzero(agg.compat[k]) for r in keep[c]), np.int64)
                for k in range(len(agg.types))]
        cells = sum(len(r) * (8 if 0 < t.gpu_milli < GPU_WHOLE else 1) for r, t in zip(reps, agg.types))
        if cells <= EXACT_CELLS:
            return reps, True
        return self._trimmed(snap, agg, hint), False

    def _trimmed(self, snap, agg, hint: Assignment) -> list[np.ndarray]:
        """Per type: the incumbent's rows for it, plus the tightest representatives it fits."""
        index = {i: k for k, t in enumerate(agg.types) for i in t.members}
        used: dict[int, set[int]] = {}
        for i, (row, _) in hint.items():
            used.setdefault(index[i], set()).add(row)
        out = []
        for k in range(len(agg.types)):
            reps = np.array([agg.classes[c].rows[0] for c in np.flatnonzero(agg.compat[k])], np.int64)
            order = np.lexsort((agg_free_cpu(agg, k), agg_gpu_left(agg, k)))
            keep = set(used.get(k, ())) | set(reps[order][:TIGHTEST].tolist())
            empty = [r for r in reps if snap.is_empty(int(r))]
            keep.update(empty[:1])
            out.append(np.array(sorted(keep), np.int64))
        return out

    def _apply(self, batch, assignment: Assignment, result: BatchResult) -> None:
        engine = self.engine
        for i, (row, devs) in sorted(assignment.items()):
            w = batch[i]
            engine.assign(row, w, devs)
            result.placements[w.name] = Placement(w.name, engine.snapshot.nodes[row].name, devs)
        for i, w in enumerate(batch):
            if w.name in result.placements:
                continue
            outcome = engine.place(w)
            if outcome.ok:
                result.placements[w.name] = outcome
            else:
                result.unschedulable[w.name] = outcome


def place_batch(engine: Engine, workloads: Iterable[Workload], *, time_limit: float = 10.0,
                **options) -> BatchResult:
    """Place `workloads` jointly on `engine`: the best heuristic improved by CP-SAT within
    `time_limit` seconds (see the module doc and `BatchSolver` for the options); never raises
    for bad luck."""
    return BatchSolver(engine, list(workloads), time_limit=time_limit, **options).run()




def agg_free_cpu(agg, k: int) -> np.ndarray:
    return np.array([agg.classes[c].free[0] for c in np.flatnonzero(agg.compat[k])])


def agg_gpu_left(agg, k: int) -> np.ndarray:
    return np.array([sum(agg.classes[c].devices) for c in np.flatnonzero(agg.compat[k])])


def _hint_counts(agg, part, hint: Assignment, snap):
    """Per (type, row) counts, per (type, row, device) share counts and whole devices of an
    assignment, with devices renumbered to the model's symmetry order (equal free amounts in
    non-increasing load)."""
    index = {i: k for k, t in enumerate(agg.types) for i in t.members}
    remap = _canonical_devices(snap, part, hint)
    counts: dict[tuple[int, int], int] = {}
    shares: dict[tuple[int, int, int], int] = {}
    whole: dict[tuple[int, int], int] = {}
    for i, (row, devs) in hint.items():
        k = index[i]
        counts[k, row] = counts.get((k, row), 0) + 1
        if 0 < part[i].gpu_milli < GPU_WHOLE:
            d = remap[row][devs[0]]
            shares[k, row, d] = shares.get((k, row, d), 0) + 1
        elif part[i].gpu_milli >= GPU_WHOLE:
            for d in devs:
                whole[row, remap[row][d]] = 1
    return counts, shares, whole


def _canonical_devices(snap, part, hint: Assignment) -> dict[int, dict[int, int]]:
    load: dict[int, dict[int, int]] = {}
    for i, (row, devs) in hint.items():
        for d in devs:
            load.setdefault(row, {}).setdefault(d, 0)
            load[row][d] += part[i].gpu_milli
    out: dict[int, dict[int, int]] = {}
    for row, per in load.items():
        free = snap.devices(row)
        mapping = {}
        for amount in set(free.tolist()):
            devices = [d for d in range(len(free)) if free[d] == amount]
            ranked = sorted(devices, key=lambda d: -per.get(d, 0))
            mapping.update(dict(zip(ranked, devices)))
        out[row] = mapping
    return out


def _canonical_rows(agg, part, hint: Assignment, snap, weights) -> Assignment:
    """The same placement with the contents of identical rows permuted so that placed weight is
    non-increasing in row order (the model's symmetry order); devices map by free amount."""
    value: dict[int, int] = {}
    for i, (row, _) in hint.items():
        value[row] = value.get(row, 0) + weights[i]
    moved: dict[int, int] = {}
    for cls in agg.classes:
        rows = sorted(cls.rows)
        ranked = sorted(rows, key=lambda r: -value.get(r, 0))
        moved.update({old: new for old, new in zip(ranked, rows) if old != new})
    if not moved:
        return hint
    out: Assignment = {}
    for i, (row, devs) in hint.items():
        new = moved.get(row, row)
        if new != row:
            src = np.argsort(snap.devices(row), kind="stable")
            dst = np.argsort(snap.devices(new), kind="stable")
            where = {int(a): int(b) for a, b in zip(src, dst)}
            devs = tuple(where[d] for d in devs)
        out[i] = (new, devs)
    return out
