"""Aggregation of a placement problem into workload types and node classes.

Exact models and bounds grow with (workloads x nodes); real batches repeat shapes.  `aggregate`
groups the workloads of a batch into *types* (equal `Workload.shape` and priority: the engine
cannot tell them apart) and the snapshot's nodes into *classes* (equal free resources, equal
per-device GPU free amounts, and equal compatibility with every type under the engine's own
filters: selectors, GPU models, taints, anti-affinity already in place, single-workload fit).
Nodes of one class are interchangeable for every workload of the batch.  The result feeds the
allocation bound (`bounds`), the vector-bin-packing bounds (`binpacking`) and the class-level
decomposition of the batch solver (`batch`).  Nothing here changes the snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.engine.filters import FILTERS
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, Workload

STATIC_FILTERS = ("node-selector", "taint-toleration", "anti-affinity", "resource-fit")


@dataclass(frozen=True)
class WorkloadType:
    """Interchangeable workloads: one representative, the members (batch indices), the demand."""

    example: Workload
    members: tuple[int, ...]
    request: np.ndarray
    gpu_milli: int
    gpu_count: int

    @property
    def count(self) -> int:
        return len(self.members)


@dataclass(frozen=True)
class NodeClass:
    """Interchangeable nodes: their rows, the per-node free vector and per-device free milli."""

    rows: tuple[int, ...]
    free: np.ndarray
    pods_free: int
    devices: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def whole_devices(self) -> int:
        return sum(1 for d in self.devices if d == GPU_WHOLE)


@dataclass(frozen=True)
class Aggregate:
    """Types, classes and `compat[t, c]`: whether one workload of type t fits a node of class c."""

    types: list[WorkloadType]
    classes: list[NodeClass]
    compat: np.ndarray
    node_ok: np.ndarray
    """`node_ok[t, row]`: the engine's filters pass for type t on snapshot row `row`."""


def type_key(workload: Workload) -> tuple:
    return (workload.shape, workload.priority)


def group_types(snap: Snapshot, workloads: list[Workload]) -> list[WorkloadType]:
    """Workloads grouped by shape and priority, in order of first appearance."""
    members: dict[tuple, list[int]] = {}
    for i, w in enumerate(workloads):
        members.setdefault(type_key(w), []).append(i)
    out = []
    for idx in members.values():
        w = workloads[idx[0]]
        out.append(WorkloadType(w, tuple(idx), snap.request_vector(w).copy(), w.gpu_milli, w.gpu_count))
    return out


def feasible_rows(snap: Snapshot, workload: Workload) -> np.ndarray:
    """Boolean per row: every engine filter passes for `workload` on the snapshot as it is."""
    rows = np.arange(len(snap))
    ok = np.ones(len(snap), bool)
    for name in STATIC_FILTERS:
        plugin = FILTERS[name]()
        if not plugin.skip(snap, workload):
            ok &= plugin.filter(snap, workload, rows)
    return ok


def aggregate(snap: Snapshot, workloads: list[Workload]) -> Aggregate:
    """Group `workloads` into types and the snapshot's nodes into classes (see module doc)."""
    types = group_types(snap, workloads)
    node_ok = np.array([feasible_rows(snap, t.example) for t in types], bool).reshape(len(types), len(snap))
    keys: dict[tuple, list[int]] = {}
    for row in range(len(snap)):
        devices = tuple(sorted(int(d) for d in snap.devices(row)))
        key = (snap.free[row].tobytes(), int(snap.pods_free[row]), devices, node_ok[:, row].tobytes())
        keys.setdefault(key, []).append(row)
    classes = []
    for (_, pods, devices, _), rows in keys.items():
        classes.append(NodeClass(tuple(rows), snap.free[rows[0]].copy(), pods, devices))
    compat = np.array([[node_ok[t, c.rows[0]] for c in classes] for t in range(len(types))], bool)
    return Aggregate(types, classes, compat.reshape(len(types), len(classes)), node_ok)
