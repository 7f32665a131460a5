"""Nova's resource weighers: RAM and CPU, each min-max normalised over the candidate hosts.

As in Nova's `weights.normalize`, a weigher's raw values (free MiB, free millicores) map to 0..1
across the hosts that passed the filters (all 0 when they are all equal) and are multiplied by the
weigher's multiplier; positive multipliers spread, negative ones stack.
"""

from __future__ import annotations

import numpy as np

from berth.engine.plugins import Rows
from berth.engine.snapshot import Snapshot
from berth.model import Workload


class FreeResourceWeigher:
    """Weighs hosts by free amount of one scalar resource, normalised min-max per decision."""

    normalizes = True

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return False

    def __init__(self, name: str, dim: str) -> None:
        self.name = name
        self.dim = dim

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        col = snap.dim_index[self.dim]
        return snap.free[rows, col] * 1.0

    def score_row(self, snap: Snapshot, workload: Workload, row: int) -> float:
        return snap.free.item(row, snap.dim_index[self.dim]) * 1.0

    def normalize(self, raw: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
        low = raw.min(initial=np.inf, where=ok)
        high = raw.max(initial=-np.inf, where=ok)
        if not high > low:
            return None
        return (raw - low) / (high - low)


NOVA_SCORERS = {name: (lambda ctx, shared, name=name, dim=dim: FreeResourceWeigher(name, dim))
                for name, dim in (("ram-weigher", "memory"), ("cpu-weigher", "cpu"))}
