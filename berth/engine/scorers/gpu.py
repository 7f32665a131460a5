"""The GPU-sharing baselines of the FGD paper: Random, DotProduct, GpuClustering, GpuPacking, BestFit.

Each follows the published simulator's score rule (integer scores in 0..100, ties broken at
random by the engine), restated here from the paper and its simulator's behaviour:

- `random`: every feasible node scores the same, so the tie-break picks one uniformly.
- `dot-product` (Tetris alignment): node-free and pod-request vectors over (cpu, gpu), each
  dimension divided by the largest node spec (128 cores, 8 GPUs); score = 100 * (1 - dot / 2).
- `gpu-clustering`: prefer nodes already running only GPU workloads of the pod's kind, then nodes
  with several kinds including it, then empty nodes, then others; fuller nodes first in a tier.
- `gpu-packing`: prefer a partly used GPU (the fuller the better), then free GPUs on a used node,
  then a wholly free node (smaller first).
- `best-fit`: least weighted leftover of cpu and gpu after placement, over the same max spec.
Workloads without GPUs score 0 on every node for the GPU-only rules.
"""

from __future__ import annotations

import numpy as np

from berth.engine.plugins import Rows, RowwiseScore
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, Workload

MAX_SPEC_CPU = 128_000
"""Normaliser for cpu (millicores): the largest node spec of the openb cluster."""
MAX_SPEC_GPU = 8_000
"""Normaliser for gpu (milli-GPU): eight devices."""
MAX = 100


def _cpu_left(snap: Snapshot, rows: Rows) -> np.ndarray:
    return snap.free[rows, 0]


class Constant(RowwiseScore):
    """Scores every node 0: with random tie-breaking, a uniformly random feasible node."""

    name = "random"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return np.zeros(len(rows))


class DotProduct(RowwiseScore):
    """Tetris-style alignment: the smaller the normalised dot product, the higher the score."""

    name = "dot-product"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        cpu, gpu = workload.requests["cpu"], workload.requests["gpu"]
        dot = (_cpu_left(snap, rows) / MAX_SPEC_CPU) * (cpu / MAX_SPEC_CPU)
        dot = dot + (snap.gpu_left[rows] / MAX_SPEC_GPU) * (gpu / MAX_SPEC_GPU)
        return np.trunc(MAX * (1 - dot / 2))


class BestFit(RowwiseScore):
    """Least leftover: 100 * (1 - sum of 0.5 * (free - request) / max spec over cpu and gpu)."""

    name = "best-fit"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        cpu, gpu = workload.requests["cpu"], workload.requests["gpu"]
        left = 0.5 * (_cpu_left(snap, rows) - cpu) / MAX_SPEC_CPU
        left = left + 0.5 * (snap.gpu_left[rows] - gpu) / MAX_SPEC_GPU
        return np.trunc((1 - left) * MAX)


class GpuClustering(RowwiseScore):
    """Keep GPU workloads of one kind together; tiers of 25 points, fuller nodes higher in a tier."""

    name = "gpu-clustering"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        if not workload.gpu_count:
            return np.zeros(len(rows))
        fill = (MAX // 4) * (MAX_SPEC_GPU - snap.gpu_left[rows]) // MAX_SPEC_GPU
        kinds = snap.tag_kinds[rows]
        same = snap.gpu_tags.get(workload.gpu_affinity)
        has_same = same[rows] > 0 if same is not None else np.zeros(len(rows), bool)
        tier = np.select([has_same & (kinds == 1), has_same, kinds == 0], [3, 2, 1], 0)
        return (fill + tier * (MAX // 4)).astype(np.float64)


class GpuPacking(RowwiseScore):
    """Prefer partly used GPUs, then free GPUs on used nodes, then the smallest wholly free node."""

    name = "gpu-packing"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        if not workload.gpu_count:
            return np.zeros(len(rows))
        full, count = snap.gpu_full[rows], snap.gpu_count[rows]
        idle_node = np.maximum(MAX // 3 - full, full)
        free_gpus = np.maximum(MAX // 2 - workload.gpu_count, MAX // 3)
        if workload.gpu_milli >= GPU_WHOLE:
            return np.where(full == count, idle_node, free_gpus).astype(np.float64)
        chosen = _tightest_fit(snap.gpu_free[rows], count, workload.gpu_milli)
        shared = np.maximum(MAX - (chosen * 100 // GPU_WHOLE) // 10, MAX // 2)
        score = np.where(chosen == GPU_WHOLE, free_gpus, shared)
        return np.where(full == count, idle_node, score).astype(np.float64)


def _tightest_fit(free: np.ndarray, count: np.ndarray, milli: int) -> np.ndarray:
    """Per row, the smallest free amount among existing devices that still fits `milli`."""
    exists = np.arange(free.shape[1])[None, :] < count[:, None]
    fits = np.where(exists & (free >= milli), free, GPU_WHOLE + 1)
    return fits.min(axis=1, initial=GPU_WHOLE + 1)


GPU_SCORERS = {plugin.name: (lambda ctx, shared, plugin=plugin: plugin())
               for plugin in (Constant, DotProduct, BestFit, GpuClustering, GpuPacking)}
