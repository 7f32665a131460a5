"""kube-scheduler's resource scorers: LeastAllocated, MostAllocated, BalancedAllocation, TaintToleration.

Integer arithmetic follows upstream (`least_allocated.go`, `most_allocated.go`,
`balanced_allocation.go`, `taint_toleration.go`): per-resource scores in 0..100 over cpu and
memory with weight 1 each, combined by integer weighted mean; pods that request no cpu or memory
count as 100m and 200 MiB for scoring, as upstream's non-zero defaults do.
"""

from __future__ import annotations

import math

import numpy as np

from berth.engine.plugins import Rows, RowwiseScore
from berth.engine.snapshot import Snapshot
from berth.model import Workload
from berth.model.constraints import TaintEffect

MAX_NODE_SCORE = 100
NON_ZERO_DEFAULTS = {"cpu": 100, "memory": 200}
SCORED_DIMS = ("cpu", "memory")
_NON_ZERO = np.array([NON_ZERO_DEFAULTS[d] for d in SCORED_DIMS], np.int64)
_HALF_DIFFERENCE = np.array([0.5, -0.5])
"""`frac @ _HALF_DIFFERENCE` is (cpu - memory) / 2 bit for bit: halving is exact in binary."""


def requested_after(snap: Snapshot, workload: Workload, rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(requested-with-this-workload, capacity, capacity floored at 1) for cpu and memory, each of
    shape (len(rows), 2).

    cpu and memory are always the snapshot's first two columns (`snapshot.BASE_DIMS`).  The
    scorers of one refresh share the result through `Snapshot.derived` (same tick, same rows).
    """
    key = ("requested-after", workload.requests_id)
    return snap.derived(key, rows, lambda: _requested_after(snap, workload, rows))


def _requested_after(snap: Snapshot, workload: Workload, rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    need = _non_zero(workload.requests_id, snap.request_vector(workload))
    cap = snap.capacity[rows, :2]
    return snap.used[rows, :2] + need, cap, np.maximum(cap, 1)


def requested_row(snap: Snapshot, workload: Workload, row: int) -> tuple[int, int, int, int]:
    """`requested_after` for one row as Python ints: (cpu, memory requested, cpu, memory capacity)."""
    need = _non_zero(workload.requests_id, snap.request_vector(workload))
    used, cap = snap.used, snap.capacity
    return (used.item(row, 0) + need.item(0), used.item(row, 1) + need.item(1),
            cap.item(row, 0), cap.item(row, 1))


def _non_zero(key: object, vector: np.ndarray, memo: dict = {}) -> np.ndarray:
    need = memo.get(key)
    if need is None:
        need = memo[key] = np.maximum(vector[:2], _NON_ZERO)
        if len(memo) > 4096:
            memo.clear()
    return need


class LeastAllocated(RowwiseScore):
    """Prefers the emptiest node: mean over cpu/memory of (capacity - requested) * 100 / capacity."""

    name = "least-allocated"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        req, cap, divisor = requested_after(snap, workload, rows)
        per = np.maximum(cap - req, 0) * MAX_NODE_SCORE // divisor
        return per.sum(axis=1) // len(SCORED_DIMS)

    def score_row(self, snap: Snapshot, workload: Workload, row: int) -> int:
        cpu, memory, cpu_cap, memory_cap = requested_row(snap, workload, row)
        return (max(cpu_cap - cpu, 0) * MAX_NODE_SCORE // max(cpu_cap, 1)
                + max(memory_cap - memory, 0) * MAX_NODE_SCORE // max(memory_cap, 1)) // len(SCORED_DIMS)


class MostAllocated(RowwiseScore):
    """Prefers the fullest node: mean over cpu/memory of requested * 100 / capacity."""

    name = "most-allocated"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        req, cap, divisor = requested_after(snap, workload, rows)
        per = np.where(req <= cap, req * MAX_NODE_SCORE // divisor, 0)
        return per.sum(axis=1) // len(SCORED_DIMS)

    def score_row(self, snap: Snapshot, workload: Workload, row: int) -> int:
        cpu, memory, cpu_cap, memory_cap = requested_row(snap, workload, row)
        per_cpu = cpu * MAX_NODE_SCORE // max(cpu_cap, 1) if cpu <= cpu_cap else 0
        per_memory = memory * MAX_NODE_SCORE // max(memory_cap, 1) if memory <= memory_cap else 0
        return (per_cpu + per_memory) // len(SCORED_DIMS)


class BalancedAllocation(RowwiseScore):
    """Prefers nodes whose cpu and memory fractions stay equal: (1 - std) * 100."""

    name = "balanced-allocation"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        req, _, divisor = requested_after(snap, workload, rows)
        frac = np.minimum(req / divisor, 1.0)
        std = np.abs(frac @ _HALF_DIFFERENCE)
        return np.floor((1 - std) * MAX_NODE_SCORE)

    def score_row(self, snap: Snapshot, workload: Workload, row: int) -> float:
        cpu, memory, cpu_cap, memory_cap = requested_row(snap, workload, row)
        std = abs(min(cpu / max(cpu_cap, 1), 1.0) * 0.5 - min(memory / max(memory_cap, 1), 1.0) * 0.5)
        return float(math.floor((1 - std) * MAX_NODE_SCORE))


class TaintTolerationScore:
    """Fewer untolerated PreferNoSchedule taints is better; normalised in reverse to 0..100."""

    name = "taint-toleration"
    normalizes = True

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return not snap.has_taints((TaintEffect.PREFER_NO_SCHEDULE,))

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        counts = snap.untolerated(workload.tolerations, (TaintEffect.PREFER_NO_SCHEDULE,))
        return counts[rows].astype(np.float64)

    def score_row(self, snap: Snapshot, workload: Workload, row: int) -> float:
        return float(snap.untolerated(workload.tolerations, (TaintEffect.PREFER_NO_SCHEDULE,)).item(row))

    def normalize(self, raw: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
        worst = raw.max(initial=0.0, where=ok)
        if worst == 0:
            return None
        return MAX_NODE_SCORE - np.floor(raw * MAX_NODE_SCORE / worst)


KUBE_SCORERS = {plugin.name: (lambda ctx, shared, plugin=plugin: plugin())
                for plugin in (LeastAllocated, MostAllocated, BalancedAllocation, TaintTolerationScore)}
