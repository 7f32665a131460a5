"""Fragmentation Gradient Descent (FGD, Weng et al., USENIX ATC'23): score by fragmentation avoided.

The fragmentation of a node is measured against a "typical" workload mix: the most frequent
request shapes (cpu, per-device milli-GPU, device count, allowed GPU models) covering 95% of
arrivals, each with its frequency p.  For one typical shape m, the node's free GPU milli that m
cannot use counts as fragment: all of it when m asks no GPU, cannot use the node's GPU model,
lacks cpu or finds too few devices with enough free; otherwise only the devices whose free amount
is below m's per-device need.  F(node) = sum_m p_m * fragment_m.  A placement scores
trunc(100 * sigmoid((F_before - F_after) / 1000)); a shared-GPU workload tries every device that
fits and keeps the best (the first on ties), which is also the device `FgdDevices` picks.

Per-node "before" statistics depend only on the node, so they are cached per row and refreshed
when the row's tick moves; the "after" terms are derived from them by the change one placement
makes, vectorised over (row, device, typical shape).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from berth.engine.plugins import Rows, RowwiseScore
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, ValidationError, Workload

POPULARITY = 0.95
"""Share of arrivals the typical shapes must cover."""


@dataclass(frozen=True)
class TypicalMix:
    """Typical request shapes as columns: cpu, per-device milli, device count, models, frequency."""

    cpu: np.ndarray
    milli: np.ndarray
    count: np.ndarray
    models: tuple[tuple[str, ...], ...]
    prob: np.ndarray


def typical_mix(mix, popularity: float = POPULARITY) -> TypicalMix:
    """The most frequent shapes of `mix` (DemandClass items) covering `popularity`, renormalised.

    Shapes are ranked by weight, ties by (cpu, milli, count, models) descending, and taken until
    their cumulative weight reaches the threshold.
    """
    weights: Counter = Counter()
    for d in mix:
        count = 0 if not d.gpu else max(1, d.gpu // GPU_WHOLE)
        milli = min(d.gpu, GPU_WHOLE)
        weights[(d.cpu, milli, count, "|".join(d.gpu_models))] += d.weight
    if not weights:
        raise ValidationError("policy.context.mix", "fgd needs a workload mix to measure fragmentation against")
    ranked = sorted(weights.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    total, taken, chosen = sum(weights.values()), 0.0, []
    for shape, weight in ranked:
        if taken >= popularity * total:
            break
        chosen.append((shape, weight))
        taken += weight
    cols = list(zip(*[shape for shape, _ in chosen]))
    return TypicalMix(np.array(cols[0], np.int64), np.array(cols[1], np.int64), np.array(cols[2], np.int64),
                      tuple(tuple(m.split("|")) if m else () for m in cols[3]),
                      np.array([w for _, w in chosen]) / taken)


class FragmentationModel:
    """Fragmentation of nodes against a typical mix, with per-row caching of node statistics."""

    def __init__(self, mix: TypicalMix) -> None:
        self.mix = mix
        self._epoch = -1
        self.access = self.count = self.small = self.frag = self.stamp = np.zeros(0)

    def refresh(self, snap: Snapshot, rows: Rows) -> None:
        """Bring the cached statistics of `rows` up to date with the snapshot."""
        if self._epoch != snap.epoch:
            self._reset(snap)
            rows = np.arange(len(snap))
        stale = rows[self.stamp[rows] != snap.node_tick[rows]]
        if len(stale):
            count, small = self._device_stats(snap.gpu_free[stale])
            self.count[stale], self.small[stale] = count, small
            self.frag[stale] = self.fragment(stale, snap.free[stale, 0], count, small, snap.gpu_left[stale])
            self.stamp[stale] = snap.node_tick[stale]

    def _reset(self, snap: Snapshot) -> None:
        n, t = len(snap), len(self.mix.prob)
        self._epoch = snap.epoch
        self.access = np.array([[not models or node.gpu_model in models for models in self.mix.models]
                                for node in snap.nodes], bool).reshape(n, t)
        self.count, self.small = np.zeros((n, t), np.int64), np.zeros((n, t), np.int64)
        self.frag, self.stamp = np.zeros(n), np.full(n, -1, np.int64)

    def _device_stats(self, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (row, typical shape): devices with enough free, and free milli on the others."""
        enough = free[:, None, :] >= self.mix.milli[None, :, None]
        return enough.sum(axis=-1), np.where(enough, 0, free[:, None, :]).sum(axis=-1)

    def fragment(self, rows: Rows, cpu: np.ndarray, count: np.ndarray, small: np.ndarray,
                 total: np.ndarray) -> np.ndarray:
        """F for node states given as per-row arrays; extra middle axes (devices) broadcast."""
        mix = self.mix
        usable = (mix.milli > 0) & (cpu[..., None] >= mix.cpu) & (count >= mix.count)
        access = self.access[rows].reshape(self.access[rows].shape[:1] + (1,) * (usable.ndim - 2) + (-1,))
        part = np.where(usable & access, small, total[..., None])
        return part @ mix.prob

    def after(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        """F after placing `workload`, shape (rows, devices): one column per device slot for a
        GPU share (NaN where it does not fit), a single column otherwise."""
        cpu = snap.free[rows, 0] - workload.requests["cpu"]
        count, small, total = self.count[rows], self.small[rows], snap.gpu_left[rows]
        if workload.gpu_count == 0 or workload.gpu_milli >= GPU_WHOLE:
            total = total - workload.requests["gpu"]
            count = count - workload.gpu_count * (self.mix.milli > 0)
            return self.fragment(rows, cpu, count, small, total)[:, None]
        return self._share_after(snap, workload.gpu_milli, rows, cpu, count, small, total)

    def _share_after(self, snap, need, rows, cpu, count, small, total) -> np.ndarray:
        free = snap.gpu_free[rows][:, :, None]
        left, milli = free - need, self.mix.milli[None, None, :]
        count = count[:, None, :] - (free >= milli) + (left >= milli)
        small = small[:, None, :] - np.where(free < milli, free, 0) + np.where(left < milli, left, 0)
        frag = self.fragment(rows, cpu[:, None], count, small, (total - need)[:, None])
        slots = np.arange(snap.gpu_free.shape[1])[None, :]
        fits = (slots < snap.gpu_count[rows][:, None]) & (snap.gpu_free[rows] >= need)
        return np.where(fits, frag, np.nan)


def fgd_scores(model: FragmentationModel, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
    """Integer FGD score per (row, candidate device); NaN for devices that do not fit."""
    model.refresh(snap, rows)
    gain = (model.frag[rows][:, None] - model.after(snap, workload, rows)) / 1000
    with np.errstate(over="ignore"):
        return np.trunc(100 / (1 + np.exp(-gain)))


class FgdScore(RowwiseScore):
    """Score plugin: the best FGD score over the devices the workload could take."""

    name = "FGDScore"

    def __init__(self, model: FragmentationModel) -> None:
        self.model = model

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return np.nanmax(fgd_scores(self.model, snap, workload, rows), axis=1)


class FgdDevices:
    """Device picker: for a share, the first device with the best FGD score; whole GPUs in order."""

    name = "fgd"

    def __init__(self, model: FragmentationModel) -> None:
        self.model = model

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]:
        if workload.gpu_milli >= GPU_WHOLE:
            return snap.whole_devices(row, workload.gpu_count)
        scores = fgd_scores(self.model, snap, workload, np.array([row]))[0]
        return (int(np.nanargmax(scores)),)


def one_per_policy(shared: dict, key: str, build):
    """`build()` once per built policy: its scorer and device picker share the result under `key`."""
    if key not in shared:
        shared[key] = build()
    return shared[key]


def shared_model(ctx, shared: dict) -> FragmentationModel:
    """The fragmentation model of one built policy, shared by its FGD scorer and device picker."""
    return one_per_policy(shared, "fragmentation", lambda: FragmentationModel(typical_mix(ctx.mix)))


FGD_SCORERS = {"fgd": lambda ctx, shared: FgdScore(shared_model(ctx, shared))}
FGD_DEVICES = {"fgd": lambda ctx, shared: FgdDevices(shared_model(ctx, shared))}
