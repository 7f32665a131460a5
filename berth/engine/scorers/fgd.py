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
makes.  F is computed as an exact integer sum (integer weights, one division), so a row scores
the same bits alone or among all rows (a floating-point dot product did not: its order depended
on how many rows were scored together, and a zero change could come out one ulp below zero,
scoring 49 instead of 50).  A share's change on every (row, device) comes from prefix sums over
the shapes sorted by milli, kept per row for every cpu level the row could be left at and brought
up to date when the row changes, without a (row, device, shape) array: a first scoring pass of a
share reads a few numbers per device and sums nothing (see `FragmentationModel`).
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
    """Typical request shapes as columns: cpu, per-device milli, device count, models, frequency
    (`prob`, summing to 1) and the mix's weights it was normalised from."""

    cpu: np.ndarray
    milli: np.ndarray
    count: np.ndarray
    models: tuple[tuple[str, ...], ...]
    prob: np.ndarray
    weight: np.ndarray


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
                      np.array([w for _, w in chosen]) / taken, np.array([w for _, w in chosen], float))


class FragmentationModel:
    """Fragmentation of nodes against a typical mix, with per-row caching of node statistics.

    The typical shapes are sorted by per-device milli and weighted by integers (`weights`, F
    times `scale`), and every sum below is of integers under 2**53, so F has the same bits
    whichever rows are scored together and however BLAS orders a sum.  Per (shape, row) the
    cache holds `small` (free milli on devices below the shape's need), `gap` (free milli the
    shape can use) and masks for "has the devices it needs" (`enough`) and "has more" (`spare`);
    per (row, cpu level, u), `sums` holds the prefix sums a share's change reads over the shapes
    of the u smallest milli values that the node's cpu would still feed, so scoring a row reads a
    few numbers per device.  Every row that changed is brought up to date at the next call, all
    its cpu levels at once (one small product per placement), so no decision sums many rows.
    """

    def __init__(self, mix: TypicalMix) -> None:
        self.mix = mix
        order = np.argsort(mix.milli, kind="stable")
        self.milli = mix.milli[order]
        self.cpu, self.need = mix.cpu[order][:, None], mix.count[order][:, None]
        self.models = tuple(mix.models[i] for i in order)
        self.weights, self.scale = integer_weights(mix.weight[order])
        self.total_weight = float(self.weights.sum())
        self.levels = np.unique(self.cpu[self.milli > 0])
        """The GPU shapes' distinct cpu requests: cpu c feeds the shapes asking the first
        searchsorted(levels, c, "right") of them, the node's cpu level."""
        bounds = np.unique(self.milli)
        self.rank = np.searchsorted(bounds, np.arange(GPU_WHOLE + 1), "right")
        """rank[f]: how many of the shapes' distinct per-device milli values are at most f."""
        self.group = np.searchsorted(bounds, self.milli)
        """Each shape's index among the distinct milli values."""
        self.values = len(bounds) + 1
        """How many counts u of smallest milli values there are (0 to all)."""
        fed = np.searchsorted(self.levels, self.cpu[:, 0]) < np.arange(len(self.levels) + 1)[:, None]
        below = self.group < np.arange(len(bounds) + 1)[:, None]
        self.fed_weights = np.where(fed, self.weights, 0).astype(float)
        """fed_weights[l] @ x: the weighted sum of x over the shapes fed at cpu level l."""
        self.prefix = (below[None] * self.fed_weights[:, None]).reshape(-1, len(self.milli))
        """prefix[l * values + u] @ x: that sum over the shapes of the u smallest milli values."""
        self._epoch, self.tick = -1, -1

    def prepare(self, snap: Snapshot) -> None:
        """Every row's statistics and sums, which the first decision would otherwise compute (`Prepares`)."""
        self.refresh(snap)

    def refresh(self, snap: Snapshot) -> None:
        """Bring the cached statistics of every row that changed since the last call up to date."""
        if self._epoch != snap.epoch:
            self._reset(snap)
        stale = snap.changed_since(self.tick) if self.tick >= 0 else np.arange(len(snap))
        self.tick = snap.tick
        if not len(stale):
            return
        every = len(stale) == len(snap)
        at = slice(None) if every else stale
        count, small = self._device_stats(snap.gpu_free[at])
        gpu = self.gpu_shape if self.everywhere else self.gpu_shape & self.access[:, at]
        enough, spare, gap = gpu & (count >= self.need), gpu & (count > self.need), snap.gpu_left[at] - small
        for name, value in (("count", count), ("enough", enough), ("spare", spare), ("gap", gap)):
            if every:
                setattr(self, name, value)
            else:
                getattr(self, name)[:, stale] = value
        self.frag[at] = self.weigh(enough & (snap.free[at, 0] >= self.cpu), gap, snap.gpu_left[at]) / self.scale
        self.sums[:, at], self.enough_gap[at] = self._shape_sums(enough, spare, gap)

    def _reset(self, snap: Snapshot) -> None:
        n, t = len(snap), len(self.milli)
        self._epoch, self.tick = snap.epoch, -1
        names: dict[str, int] = {}
        kinds = np.array([names.setdefault(node.gpu_model, len(names)) for node in snap.nodes], np.int64)
        allowed = np.array([[not models or name in models for name in names] for models in self.models], bool)
        self.access = allowed.reshape(t, len(names))[:, kinds]
        self.everywhere = bool(self.access.all())
        self.gpu_shape = (self.milli > 0)[:, None]
        self.count, self.gap = np.zeros((t, n), np.int64), np.zeros((t, n), np.int64)
        self.enough, self.spare = np.zeros((t, n), bool), np.zeros((t, n), bool)
        self.sums = np.zeros((4, n, len(self.levels) + 1, self.values))
        """`_shape_sums` per (channel, row, cpu level, u): 480 bytes per row and level, about 11 MB
        for the 1,213 openb nodes."""
        self.enough_gap = np.zeros((n, len(self.levels) + 1))
        self.frag = np.zeros(n)

    def _device_stats(self, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (typical shape, row): devices with at least its milli free, and free milli on the
        others.  Counted per distinct milli value: a device with free f is enough for the rank[f]
        smallest values, so histograms of rank per row, summed from either end, give both."""
        rows, width = free.shape
        values = self.values
        at = (np.arange(rows)[:, None] * values + self.rank[free]).ravel()
        hist = np.bincount(at, minlength=rows * values).reshape(rows, values)
        milli = np.bincount(at, free.ravel(), minlength=rows * values).reshape(rows, values)
        count = width - np.cumsum(hist, axis=1)[:, :-1]
        small = np.cumsum(milli, axis=1)[:, :-1].astype(np.int64)
        return count.T[self.group], small.T[self.group]

    def _shape_sums(self, enough: np.ndarray, spare: np.ndarray, gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What a share's change reads, given per (shape, row) masks and gaps: per (row, cpu level,
        u) the sums over the fed shapes of the u smallest milli values of the channels
        exactly-enough * gap, exactly-enough, spare and enough (one product with `prefix`), and
        per (row, cpu level) the weighted sum of enough * gap over the fed shapes."""
        exact = enough & ~spare
        parts = np.empty((4, *gap.shape))
        np.multiply(exact, gap, out=parts[0])
        parts[1], parts[2], parts[3] = exact, spare, enough
        sums = (self.prefix @ parts).transpose(0, 2, 1).reshape(4, gap.shape[1], *self.sums.shape[2:])
        return sums, (self.fed_weights @ (enough * gap)).T

    def weigh(self, usable: np.ndarray, gap: np.ndarray, total: np.ndarray) -> np.ndarray:
        """scale * F for node states: free GPU per row, usability and `gap` per (shape, row).
        F = sum_m p_m (total - [m usable] gap_m), usable meaning enough devices and cpu."""
        return self.total_weight * total - self.weights @ (usable * gap)

    def after(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        """F after placing `workload`, shape (rows, devices): one column per device slot for a
        GPU share (NaN where it does not fit), a single column otherwise."""
        cpu, gpu = snap.free[rows, 0] - workload.requests["cpu"], workload.requests["gpu"]
        whole = workload.gpu_count if workload.gpu_milli >= GPU_WHOLE else 0
        if workload.gpu_count and not whole:
            return self._share_after(snap, workload.gpu_milli, rows, cpu)
        gap = self._rows(self.gap, rows) - gpu
        if whole:
            enough = (self._rows(self.count, rows) >= self.need + whole) & self.gpu_shape
            enough = enough if self.everywhere else enough & self.access[:, rows]
        else:
            enough = self._rows(self.enough, rows)
        return (self.weigh(enough & (cpu >= self.cpu), gap, snap.gpu_left[rows] - gpu) / self.scale)[:, None]

    def _rows(self, table: np.ndarray, rows: Rows) -> np.ndarray:
        """table[:, rows], without a copy when `rows` is every row in order."""
        every = len(rows) == table.shape[1] and (len(rows) < 2 or bool((rows[1:] > rows[:-1]).all()))
        return table if every else table[:, rows]

    def _share_after(self, snap, need, rows, cpu) -> np.ndarray:
        """F after a share of `need` on each device, from prefix sums over the sorted shapes.

        A device with free f leaves the shapes of milli <= f - need alone.  For those in
        (f - need, f] it stops being enough: one with spare devices gains f - need of small, one
        with exactly enough can no longer be placed (its gap becomes fragment).  For those above f
        its small part shrinks by `need` where the shape is usable.  The channel sums are integers,
        so they combine exactly in any order."""
        free = device_free(snap, rows)
        spots = rows * self.sums.shape[2] + np.searchsorted(self.levels, cpu, "right")
        at = spots[:, None] * self.sums.shape[3]
        high, low = at + np.take(self.rank, free), at + np.take(self.rank, device_left(snap, rows, need))
        sums = self.sums.reshape(4, -1)
        weighted = np.take(sums[0], high) - np.take(sums[0], low)
        weighted -= need * (np.take(sums[1], high) - np.take(sums[1], low))
        weighted += (free - need) * (np.take(sums[2], high) - np.take(sums[2], low))
        weighted += need * np.take(sums[3], high)
        weighted += (self.total_weight * (snap.gpu_left[rows] - need) - np.take(self.enough_gap, spots))[:, None]
        fits = (np.arange(free.shape[1]) < snap.gpu_count[rows][:, None]) & (free >= need)
        return np.where(fits, weighted / self.scale, np.nan)


def device_free(snap: Snapshot, rows: Rows) -> np.ndarray:
    """Free milli-GPU per (row, device slot) of `rows`, taken once per snapshot state and shared."""
    return snap.derived("device_free", rows, lambda: np.take(snap.gpu_free, rows, axis=0))


def device_left(snap: Snapshot, rows: Rows, need: int) -> np.ndarray:
    """What a share of `need` would leave on each device slot of `rows` (0 where it does not fit)."""
    return snap.derived(("device_left", need), rows, lambda: np.maximum(device_free(snap, rows) - need, 0))


def integer_weights(weights: np.ndarray) -> tuple[np.ndarray, float]:
    """(integer weights, divisor) standing for `weights` / their sum: the weights themselves when
    they are whole numbers below 2**24 in all (counts, as in a trace's mix), else the shares in units
    of 2**-24.  Times free milli-GPU of a node (below 2**20) and summed, they stay exact in float64."""
    if np.array_equal(weights, np.round(weights)) and weights.sum() < 2**24:
        return weights.astype(np.int64), float(weights.sum())
    return np.round(weights / weights.sum() * 2**24).astype(np.int64), float(2**24)


def fgd_scores(model: FragmentationModel, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
    """Integer FGD score per (row, candidate device); NaN for devices that do not fit."""
    model.refresh(snap)
    gain = (model.frag[rows][:, None] - model.after(snap, workload, rows)) / 1000
    with np.errstate(over="ignore"):
        return np.trunc(100 / (1 + np.exp(-gain)))


class ModelScore(RowwiseScore):
    """Base of the score plugins that read a model with per-row state; warms it (`Prepares`)."""

    def __init__(self, model) -> None:
        self.model = model

    def prepare(self, snap: Snapshot) -> None:
        self.model.prepare(snap)


class FgdScore(ModelScore):
    """Score plugin: the best FGD score over the devices the workload could take."""

    name = "fgd"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return np.fmax.reduce(fgd_scores(self.model, snap, workload, rows), axis=1)


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


FGD_SCORERS = {FgdScore.name: lambda ctx, shared: FgdScore(shared_model(ctx, shared))}
FGD_DEVICES = {FgdDevices.name: lambda ctx, shared: FgdDevices(shared_model(ctx, shared))}
