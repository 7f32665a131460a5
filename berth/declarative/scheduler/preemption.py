"""Preemption by priority (kube-scheduler's DefaultPreemption PostFilter), on the engine's filters.

When a pod fits nowhere, `select_victims` looks at nodes running lower-priority pods.  On each
it removes all of them from the snapshot, asks the profile's own filter plugins whether the
preemptor now fits that row, then gives the would-be victims back one by one, highest priority
first, keeping each that still leaves room (upstream's reprieve).  Among nodes where the
preemptor fits it picks, as upstream does: the lowest highest-victim priority, then the lowest
sum of victim priorities, then the fewest victims, then the first node by name.  The snapshot is
restored before returning.  Pod disruption budgets are not modelled.  Called by the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.declarative.scheduler.cache import Charge, ClusterState
from berth.engine import Engine
from berth.model import Workload


@dataclass(frozen=True)
class Preemption:
    """Evicting `victims` (pod keys) from `node` makes room for the preemptor."""

    node: str
    victims: tuple[str, ...]


def select_victims(state: ClusterState, scheduler_name: str, workload: Workload,
                   max_candidates: int = 100) -> Preemption | None:
    """The best node and victims for `workload`, or None when preemption cannot help."""
    with state.lock:
        state.sync()
        engine, snap = state.engines[scheduler_name], state.snapshot
        lower: dict[str, list[tuple[str, Charge]]] = {}
        for key, charge in state.ledger.items():
            if charge.on and not charge.assumed and charge.workload.priority < workload.priority:
                lower.setdefault(charge.node, []).append((key, charge))
        best: tuple[tuple, Preemption] | None = None
        for node in sorted(lower)[:max(max_candidates, len(snap) // 10)]:
            victims = _victims_on(engine, workload, snap.index[node], lower[node])
            if victims is None:
                continue
            prios = [c.workload.priority for _, c in victims]
            rank = (max(prios, default=-(2**31)), sum(prios), len(prios), node)
            if best is None or rank < best[0]:
                best = (rank, Preemption(node, tuple(k for k, _ in victims)))
        return best[1] if best else None


def _victims_on(engine: Engine, workload: Workload, row: int,
                pods: list[tuple[str, Charge]]) -> list[tuple[str, Charge]] | None:
    snap, released = engine.snapshot, []
    for key, charge in pods:
        snap.release(row, charge.workload, charge.devices)
        released.append((key, charge))
    try:
        if not engine.fits(workload, row):
            return None
        victims = []
        for key, charge in sorted(pods, key=lambda kc: -kc[1].workload.priority):
            snap.assign(row, charge.workload, charge.devices)
            released.remove((key, charge))
            if not engine.fits(workload, row):
                snap.release(row, charge.workload, charge.devices)
                released.append((key, charge))
                victims.append((key, charge))
        return victims
    finally:
        for _, charge in released:
            snap.assign(row, charge.workload, charge.devices)
