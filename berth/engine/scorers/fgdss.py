"""`fgd-ss` (experimental): fragmentation gradient descent plus a sum-of-squares term on device gaps.

FGD (`berth.engine.scorers.fgd`) scores a node by the fragmentation it avoids, one node at a time.
This policy adds the Sum-of-Squares rule of online bin packing (Csirik et al., JACM 2006), which
keeps the cluster's histogram N(g) of device gap sizes flat: `gap_histogram` counts partly used
devices per gap bucket (BUCKET milli-GPU; empty and wholly free devices are not counted) and
`squares_change` gives the change of sum_g N(g)^2 when a share of s goes on a device with gap g,
2 (N(g - s) - N(g)) + 2 in the general case.  `device_scores` is FGD's integer score (0..100)
minus WEIGHT times that change per (node, device); whole GPUs and CPU-only workloads score exactly
as FGD.  `FgdSsScore` takes the best device's score per node and `FgdSsDevices` picks that device.
The histogram is the whole cluster's at the moment a row is scored: a row's cached score is
recomputed only when that row changes (the engine's score cache), so cached rows may have read
an older histogram.  Registered through `FGD_SS_SCORERS` and `FGD_SS_DEVICES` (collected by
`berth.engine.scorers` and `berth.engine.devices`).

How WEIGHT was chosen and what it measured (no real gain over FGD): docs/policies/fgd-ss.md.
"""

from __future__ import annotations

import numpy as np

from berth.engine.plugins import Rows
from berth.engine.scorers.fgd import FragmentationModel, ModelScore, fgd_scores, shared_model
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, Workload

WEIGHT = 0.05
"""Score points per unit of sum-of-squares change (chosen on tuning seeds 1-3)."""
BUCKET = 10
"""Gap histogram resolution in milli-GPU (the openb trace's shares are multiples of 10)."""


def gap_histogram(snap: Snapshot) -> np.ndarray:
    """N(g): devices per bucketed free amount; empty (0) and wholly free buckets set to 0."""
    exists = np.arange(snap.gpu_free.shape[1])[None, :] < snap.gpu_count[:, None]
    counts = np.bincount(snap.gpu_free[exists] // BUCKET, minlength=GPU_WHOLE // BUCKET + 1).astype(float)
    counts[0] = counts[GPU_WHOLE // BUCKET] = 0
    return counts


def squares_change(snap: Snapshot, milli: int, rows: Rows) -> np.ndarray:
    """Change of sum_g N(g)^2 when a share of `milli` goes on each device of `rows`."""
    hist = gap_histogram(snap)
    before = snap.gpu_free[rows] // BUCKET
    after = np.clip(snap.gpu_free[rows] - milli, 0, None) // BUCKET
    delta = 2 * (hist[after] - hist[before]) + 2
    top = GPU_WHOLE // BUCKET
    delta = np.where(after == 0, -2 * hist[before] + 1, delta)
    delta = np.where(before == top, 2 * hist[after] + 1, delta)
    return np.where((after == 0) & (before == top), 0, delta)


def device_scores(model: FragmentationModel, snap: Snapshot, workload: Workload, rows: Rows,
                  weight: float = WEIGHT) -> np.ndarray:
    """Per (row, device) score; NaN where the workload does not fit the device."""
    scores = fgd_scores(model, snap, workload, rows)
    if workload.gpu_count and workload.gpu_milli < GPU_WHOLE:
        scores = scores - weight * squares_change(snap, workload.gpu_milli, rows)
    return scores


class FgdSsScore(ModelScore):
    """Score plugin: the best (FGD - weight * sum-of-squares change) over fitting devices."""

    name = "fgd-ss"

    def __init__(self, model: FragmentationModel, weight: float = WEIGHT) -> None:
        super().__init__(model)
        self.weight = weight

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return np.fmax.reduce(device_scores(self.model, snap, workload, rows, self.weight), axis=1)


class FgdSsDevices:
    """Device picker: whole GPUs in order; a share on its best-scoring device (first on ties)."""

    name = "fgd-ss"

    def __init__(self, model: FragmentationModel, weight: float = WEIGHT) -> None:
        self.model, self.weight = model, weight

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]:
        if workload.gpu_milli >= GPU_WHOLE:
            return snap.whole_devices(row, workload.gpu_count)
        scores = device_scores(self.model, snap, workload, np.array([row]), self.weight)[0]
        return (int(np.nanargmax(scores)),)


FGD_SS_SCORERS = {FgdSsScore.name: lambda ctx, shared: FgdSsScore(shared_model(ctx, shared))}
FGD_SS_DEVICES = {FgdSsDevices.name: lambda ctx, shared: FgdSsDevices(shared_model(ctx, shared))}
