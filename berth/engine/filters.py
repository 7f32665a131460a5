"""Filter plugins: resource fit (with per-device GPU fit), node selector, taints, anti-affinity.

Each implements `berth.engine.plugins.FilterPlugin` and is registered by name in `FILTERS`.
Reasons use kube-scheduler's wording so the control planes can surface them unchanged.
"""

from __future__ import annotations

import numpy as np

from berth.engine import status
from berth.engine.plugins import Rows
from berth.engine.snapshot import Snapshot
from berth.model import GPU, Workload
from berth.model.constraints import TaintEffect

HARD_EFFECTS = (TaintEffect.NO_SCHEDULE, TaintEffect.NO_EXECUTE)


class ResourceFit:
    """Scalar requests fit the free capacity; GPU requests fit on individual devices.

    A GPU share (`gpu_milli` < 1000) needs one device with that much free; whole-GPU requests
    need `gpu_count` wholly free devices.  Nodes with a `pods` capacity also cap the pod count.
    """

    name = "resource-fit"

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return False

    def filter(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        ok = self._scalar_fit(snap, workload, rows).all(axis=1) & self._pods_fit(snap, rows)
        if workload.gpu_count:
            ok &= self._gpu_fit(snap, workload, rows)
        if snap.unknown_dims(workload):
            ok[:] = False
        return ok

    def fits(self, snap: Snapshot, workload: Workload, row: int) -> bool:
        if snap.pods_free.item(row) <= 0 or snap.unknown_dims(workload):
            return False
        if not all(map(int.__ge__, snap.free[row].tolist(), snap.request_values(workload))):
            return False
        if not workload.gpu_count:
            return True
        if workload.gpu_milli < 1000:
            return snap.gpu_best.item(row) >= workload.gpu_milli
        return snap.gpu_full.item(row) >= workload.gpu_count

    def explain(self, snap: Snapshot, workload: Workload, rows: Rows) -> list[tuple[str, np.ndarray]]:
        scalar = self._scalar_fit(snap, workload, rows)
        out = [(status.INSUFFICIENT.format(dim), ~scalar[:, i]) for i, dim in enumerate(snap.dims)]
        out.append((status.TOO_MANY_PODS, ~self._pods_fit(snap, rows)))
        if workload.gpu_count:
            out.append((status.INSUFFICIENT.format(GPU), ~self._gpu_fit(snap, workload, rows)))
        everywhere = np.ones(len(rows), bool)
        out += [(status.INSUFFICIENT.format(dim), everywhere) for dim in snap.unknown_dims(workload)]
        return out

    @staticmethod
    def _scalar_fit(snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return snap.free[rows] >= snap.request_vector(workload)

    @staticmethod
    def _pods_fit(snap: Snapshot, rows: Rows) -> np.ndarray:
        return snap.pods_free[rows] > 0

    @staticmethod
    def _gpu_fit(snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        if workload.gpu_milli < 1000:
            return snap.gpu_best[rows] >= workload.gpu_milli
        return snap.gpu_full[rows] >= workload.gpu_count


class NodeSelector:
    """Every label requirement of the workload holds on the node (GPU model sets included)."""

    name = "node-selector"

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return not workload.node_selector

    def filter(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        ok = np.ones(len(rows), bool)
        for req in workload.node_selector:
            ok &= snap.label_mask(req)[rows]
        return ok

    def fits(self, snap: Snapshot, workload: Workload, row: int) -> bool:
        return all(snap.label_mask(req).item(row) for req in workload.node_selector)

    def explain(self, snap: Snapshot, workload: Workload, rows: Rows) -> list[tuple[str, np.ndarray]]:
        return [(status.SELECTOR_MISMATCH, ~self.filter(snap, workload, rows))]


class TaintToleration:
    """The workload tolerates every NoSchedule and NoExecute taint of the node."""

    name = "taint-toleration"

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return not snap.has_taints(HARD_EFFECTS)

    def filter(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return snap.untolerated(workload.tolerations, HARD_EFFECTS)[rows] == 0

    def fits(self, snap: Snapshot, workload: Workload, row: int) -> bool:
        return snap.untolerated(workload.tolerations, HARD_EFFECTS).item(row) == 0

    def explain(self, snap: Snapshot, workload: Workload, rows: Rows) -> list[tuple[str, np.ndarray]]:
        first = [self._first_untolerated(snap.nodes[row], workload) for row in np.asarray(rows)]
        found = np.array(first, dtype=object)
        return [(status.UNTOLERATED_TAINT.format(t), found == t) for t in sorted(set(first) - {None})]

    @staticmethod
    def _first_untolerated(node, workload: Workload) -> str | None:
        for taint in node.taints:
            if taint.effect in HARD_EFFECTS and not any(t.tolerates(taint) for t in workload.tolerations):
                return str(taint)
        return None


class AntiAffinity:
    """No other member of the workload's anti-affinity groups on the node (or in its zone)."""

    name = "anti-affinity"

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return not workload.anti_affinity

    def filter(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        ok = np.ones(len(rows), bool)
        for aa in workload.anti_affinity:
            counts = snap.group_count(aa.group, aa.topology)
            if counts is not None:
                ok &= counts[rows] == 0
        return ok

    def fits(self, snap: Snapshot, workload: Workload, row: int) -> bool:
        for aa in workload.anti_affinity:
            counts = snap.group_count(aa.group, aa.topology)
            if counts is not None and counts.item(row):
                return False
        return True

    def explain(self, snap: Snapshot, workload: Workload, rows: Rows) -> list[tuple[str, np.ndarray]]:
        return [(status.ANTI_AFFINITY, ~self.filter(snap, workload, rows))]


FILTERS = {plugin.name: plugin for plugin in (ResourceFit, NodeSelector, TaintToleration, AntiAffinity)}
"""Filter plugins by their one name; a policy lists the names it runs, in order.  (Upstream
kube-scheduler names are aliases in the declarative scheduler's configuration reader only.)"""
