"""`Engine`: the one placement engine both control planes and the simulator call.

`Engine(cluster, policy).place(workload)` runs the policy's filters over the columnar snapshot,
scores the feasible nodes, picks one (ties broken as the policy says), picks GPU devices, and
charges the snapshot; it returns a `Placement`, or an `Unschedulable` with reasons as data.
Plugins that keep per-row state are warmed when the engine is built (`Prepares`).  An engine built
with `moves=True` lets its policy's `Repair` move placed GPU shares to make room for a workload
that fits nowhere; the placement then lists the moves.
`release(name)` gives the resources back.  Per-row filter and score results are cached per
workload shape and refreshed only for rows that changed since (see `ScoreCache`), so each
decision still evaluates every node, at the cost of the rows that moved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from berth.engine.cache import ScoreCache
from berth.engine.plugins import Prepares
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

    def place_batch(self, workloads: Iterable[Workload], *, time_limit: float = 10.0, **options):
        """Place a queue jointly: the best heuristic improved by CP-SAT within `time_limit` seconds.

        Returns a `berth.engine.optimal.batch.BatchResult` (placements, per-workload reasons, the
        weight placed, its proven bound and gap); see that module for the options.
        """
        from berth.engine.optimal.batch import place_batch

        return place_batch(self, list(workloads), time_limit=time_limit, **options)

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

    def explain(self, workload: Workload) -> Unschedulable:
        """Why no node takes `workload`: per reason, how many nodes gave it (first failing filter)."""
        remaining = np.arange(len(self.snapshot))
        reasons: Counter[str] = Counter()
        for plugin in self.policy.filters:
            passed = plugin.filter(self.snapshot, workload, remaining)
            rejected = remaining[~passed]
            if len(rejected):
                for reason, mask in plugin.explain(self.snapshot, workload, rejected):
                    if mask.any():
                        reasons[reason] += int(mask.sum())
            remaining = remaining[passed]
        return Unschedulable(workload.name, len(self.snapshot), dict(reasons))
