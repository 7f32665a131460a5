"""`Engine`: the one placement engine both control planes and the simulator call.

`Engine(cluster, policy).place(workload)` runs the policy's filters over the columnar snapshot,
scores the feasible nodes, picks one (ties broken as the policy says), picks GPU devices, and
charges the snapshot; it returns a `Placement`, or an `Unschedulable` with reasons as data.
Plugins that keep per-row state are warmed when the engine is built (`Prepares`).  An engine built
with `moves=True` lets its policy's `Repair` move placed GPU shares to make room for a workload
that fits nowhere; the placement then lists the moves.
Per-row filter and score results are cached per workload shape and refreshed only for rows that
changed since (see `ScoreCache`), so each decision still evaluates every node, at the cost of the
rows that moved.

The public calls, which the planes, the simulator and the batch solver use (nothing outside this
module reads the cache or the bookkeeping):

- `place(workload)` decides and charges; `release(name)` gives a placed workload's resources back.
- `assign(row, workload, devices)` charges a place the caller chose; `where(name)` says where a
  placed workload is; `disown(name)` stops tracking one, leaving its charge to the caller.
- `evaluate(workload, within, extra)` answers, without deciding, what a decision would see:
  feasibility and total score per row, optionally over a subset of rows and with more scorers.
- `explain(workload, rows)` gives the reasons no node (of `rows`) takes the workload;
  `fits(workload, row)` asks the filters about one row afresh (for callers that change the
  snapshot around it, as preemption does).
- `snapshot` is the `Snapshot` decisions read: callers may read it, add nodes
  (`Snapshot.add_nodes`) and charge or release workloads the engine does not track; `policy` is
  the built policy, to read (its name, its filters' names).

Batch placement (`berth.engine.optimal.batch.place_batch(engine, workloads)`) builds on these
calls; the engine does not import it (the solver loads CP-SAT and HiGHS).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from berth.engine.cache import ScoreCache
from berth.engine.plugins import Prepares, ScorePlugin
from berth.engine.repair import Plan, Sharers
from berth.engine.policy import BuiltPolicy, Policy, PolicyContext, get_policy
from berth.engine.snapshot import Snapshot
from berth.engine.status import Placement, Unschedulable
from berth.model import Node, Workload


class Engine:
    """Places workloads one at a time on a cluster snapshot under a named policy."""

    def __init__(self, cluster: Snapshot | Iterable[Node], policy: str | Policy = "kube-default", *,
                 seed: int = 0, context: PolicyContext | None = None, cache: bool = True,
                 moves: bool = False) -> None:
        self.snapshot = cluster if isinstance(cluster, Snapshot) else Snapshot(cluster)
        spec = get_policy(policy) if isinstance(policy, str) else policy
        self.policy: BuiltPolicy = spec.build(context or PolicyContext())
        self.rng = np.random.default_rng(seed)
        self.cache = ScoreCache(self.snapshot, self.policy, enabled=cache)
        self.placed: dict[str, tuple[int, Workload, tuple[int, ...]]] = {}
        self.sharers: Sharers = {}
        """The GPU shares on each (row, device) slot, for the policy's repair."""
        self.repair = self.policy.repair if moves else None
        for plugin in (*self.policy.filters, *(scorer for scorer, _ in self.policy.scorers)):
            if isinstance(plugin, Prepares):
                plugin.prepare(self.snapshot)

    def place(self, workload: Workload) -> Placement | Unschedulable:
        """Choose a node for `workload` and charge it, or say why no node can take it."""
        if workload.name in self.placed:
            raise ValueError(f"workload {workload.name!r} is already placed")
        _, total, top = self.cache.best(workload)
        row = self._select(top)
        if row is None:
            plan = self.repair.plan(self.snapshot, self.sharers, self.policy.filters, workload) if self.repair else None
            return self.explain(workload) if plan is None else self._apply(workload, plan)
        devices = self.policy.devices.pick(self.snapshot, workload, row, self.rng) if workload.gpu_count else ()
        self.assign(row, workload, devices)
        return Placement(workload.name, self.snapshot.nodes[row].name, devices, float(total[row]))

    def assign(self, row: int, workload: Workload, devices: tuple[int, ...]) -> None:
        """Charge `workload` to node `row` and GPU slots `devices` as a decision would (for callers
        that chose the place themselves, such as the batch solver)."""
        self.snapshot.assign(row, workload, devices)
        self.placed[workload.name] = (row, workload, devices)
        if workload.gpu_affinity == "share-gpu":
            self.sharers.setdefault((row, devices[0]), {})[workload.name] = workload

    def _apply(self, workload: Workload, plan: Plan) -> Placement:
        """Carry out a repair: release the moved shares, place the workload, re-place them.  A
        repaired placement has no score of its own (0)."""
        for moved, _, _ in plan.moves:
            self.release(moved.name)
        self.assign(plan.row, workload, plan.devices)
        for moved, row, devices in plan.moves:
            self.assign(row, moved, devices)
        nodes = self.snapshot.nodes
        return Placement(workload.name, nodes[plan.row].name, plan.devices, 0.0,
                         tuple((m.name, nodes[row].name, devices) for m, row, devices in plan.moves))

    def _select(self, ties: np.ndarray) -> int | None:
        """One of the rows sharing the best score (ascending), as the policy's tie-break says."""
        if not len(ties):
            return None
        if len(ties) == 1 or self.policy.tie_break == "first":
            return int(ties[0])
        if self.policy.tie_break == "name":
            return int(ties[np.argmin(self.snapshot.name_rank()[ties])])
        return int(ties[self.rng.integers(len(ties))])

    def release(self, name: str) -> bool:
        """Give back what workload `name` holds; False if it is not placed."""
        held = self.placed.pop(name, None)
        if held is None:
            return False
        self.snapshot.release(*held)
        row, workload, devices = held
        if workload.gpu_affinity == "share-gpu":
            self.sharers[(row, devices[0])].pop(name)
        return True

    def where(self, name: str) -> tuple[int, tuple[int, ...]] | None:
        """The row and GPU slots workload `name` holds, or None if it is not placed."""
        held = self.placed.get(name)
        return None if held is None else (held[0], held[2])

    def disown(self, name: str) -> bool:
        """Stop tracking placed workload `name` but leave its charge on the snapshot: the caller
        now owns it (and gives it back through `Snapshot.release`); False if it is not placed."""
        held = self.placed.pop(name, None)
        if held is None:
            return False
        row, workload, devices = held
        if workload.gpu_affinity == "share-gpu":
            self.sharers[(row, devices[0])].pop(name)
        return True

    def evaluate(self, workload: Workload, within: np.ndarray | None = None,
                 extra: Iterable[tuple[ScorePlugin, float]] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(feasible mask, total score) over every row, as a decision would see them, without
        deciding.  Only rows of the boolean mask `within` (all when None) count: the others are
        infeasible, and normalising scorers range over the feasible rows within.  `extra` scorers
        (plugin, weight) are scored afresh for this call and added after the policy's own."""
        ok, total = self.cache.evaluate(workload, within)
        for scorer, weight in extra:
            if scorer.skip(self.snapshot, workload):
                continue
            rows = np.flatnonzero(ok)
            raw = np.zeros(len(ok))
            raw[rows] = scorer.score(self.snapshot, workload, rows)
            term = scorer.normalize(raw, ok) if scorer.normalizes else raw
            if term is not None:
                total = total + weight * term
        return ok, total

    def fits(self, workload: Workload, row: int) -> bool:
        """True when every filter of the policy passes node `row` for `workload` now (asked
        afresh, not from the cache)."""
        rows = np.array([row])
        return all(bool(f.filter(self.snapshot, workload, rows)[0]) for f in self.policy.filters
                   if not f.skip(self.snapshot, workload))

    def explain(self, workload: Workload, rows: np.ndarray | None = None) -> Unschedulable:
        """Why no node (of `rows`, all when None) takes `workload`: per reason, how many nodes
        gave it (first failing filter)."""
        remaining = np.arange(len(self.snapshot)) if rows is None else np.asarray(rows, np.int64)
        total = len(remaining)
        reasons: Counter[str] = Counter()
        for plugin in self.policy.filters:
            passed = plugin.filter(self.snapshot, workload, remaining)
            rejected = remaining[~passed]
            if len(rejected):
                for reason, mask in plugin.explain(self.snapshot, workload, rejected):
                    if mask.any():
                        reasons[reason] += int(mask.sum())
            remaining = remaining[passed]
        return Unschedulable(workload.name, total, dict(reasons))
