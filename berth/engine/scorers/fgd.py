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
the shapes sorted by milli, cached per row, without a (row, device, shape) array: a first scoring
pass of a share over the 1,213 openb nodes takes about 1 ms of CPU instead of 8-10 ms.
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
    per (cpu level, row), `sums` holds the prefix sums a share's change reads over the shapes the
    node's cpu would still feed, so scoring a row reads a few numbers per device; they are summed
    when first read after the row moved.
    """

    def __init__(self, mix: TypicalMix) -> None:
        self.mix = mix
        order = np.argsort(mix.milli, kind="stable")
        self.milli = mix.milli[order]
        self.cpu, self.need = mix.cpu[order][:, None], mix.count[order][:, None]
        self.models = tuple(mix.models[i] for i in order)
        self.weights, self.scale = integer_weights(mix.weight[order])
        self.levels = np.unique(self.cpu[self.milli > 0])
        """The GPU shapes' distinct cpu requests: cpu c feeds those of the first
        searchsorted(levels, c, "right") of them, the node's cpu level."""
        self.fed = self.cpu <= np.concatenate(([-np.inf], self.levels))[None, :]
        """fed[m, level]: shape m's cpu request is met at that cpu level."""
        self.total_weight = float(self.weights.sum())
        bounds = np.unique(self.milli)
        self.rank = np.searchsorted(bounds, np.arange(GPU_WHOLE + 1), "right")
        """rank[f]: how many of the shapes' distinct per-device milli values are at most f."""
        self.group = np.searchsorted(bounds, self.milli)
        """Each shape's index among the distinct milli values."""
        self.prefix = np.where(self.group < np.arange(len(bounds) + 1)[:, None], self.weights, 0).astype(float)
        """prefix[u] @ x: the weighted sum of x over the shapes of the u smallest milli values."""
        self._epoch = -1

    def prepare(self, snap: Snapshot) -> None:
        """Every row's statistics, and its sums at the cpu level of its free cpu, as the first
        decisions would otherwise compute them (`Prepares`)."""
        rows = np.arange(len(snap))
        self.refresh(snap, rows)
        self._fed_sums(rows, snap.free[:, 0])

    def refresh(self, snap: Snapshot, rows: Rows) -> None:
        """Bring the cached statistics of `rows` up to date with the snapshot."""
        if self._epoch != snap.epoch:
            self._reset(snap)
            rows = np.arange(len(snap))
        stale = rows[self.stamp[rows] != snap.node_tick[rows]]
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
        weighted = self.weigh(enough & (snap.free[at, 0] >= self.cpu), gap, snap.gpu_left[at])
        self.weighted[at], self.frag[at] = weighted, weighted / self.scale
        self.stamp[at] = snap.node_tick[at]

    def _reset(self, snap: Snapshot) -> None:
        n, t = len(snap), len(self.milli)
        self._epoch = snap.epoch
        names: dict[str, int] = {}
        kinds = np.array([names.setdefault(node.gpu_model, len(names)) for node in snap.nodes], np.int64)
        allowed = np.array([[not models or name in models for name in names] for models in self.models], bool)
        self.access = allowed.reshape(t, len(names))[:, kinds]
        self.everywhere = bool(self.access.all())
        self.gpu_shape = (self.milli > 0)[:, None]
        self.count, self.gap = np.zeros((t, n), np.int64), np.zeros((t, n), np.int64)
        self.enough, self.spare = np.zeros((t, n), bool), np.zeros((t, n), bool)
        levels = len(self.levels) + 1
        self.sums = np.full((levels, n, len(self.prefix), 4), 0.0)
        """`_shape_sums` per (cpu level, row) over the shapes fed at that level, as of `summed`
        (filled when first read; written through now, so that a first read finds its pages mapped:
        448 bytes per row and level, about 10 MB for the 1,213 openb nodes)."""
        self.weighted, self.frag, self.stamp = np.zeros(n), np.zeros(n), np.full(n, -1, np.int64)
        self.summed, self.enough_gap = np.full((levels, n), -1, np.int64), np.zeros((levels, n))
        u = len(self.prefix)
        self._work = {"parts": np.full(4 * t * n, 0.0), "sums": np.full(4 * u * n, 0.0),
                      "gap": np.full(t * n, 0, np.int64), "enough_gap": np.full(t * n, 0, np.int64),
                      "enough": np.full(t * n, False), "spare": np.full(t * n, False)}
        """Work arrays of `_fed_sums` for up to every row, written through once so that summing many
        rows does not fault fresh pages in (a first pass over 535 rows faulted 220, 0.5 ms)."""

    def _device_stats(self, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (typical shape, row): devices with at least its milli free, and free milli on the
        others.  Counted per distinct milli value: a device with free f is enough for the rank[f]
        smallest values, so histograms of rank per row, summed from either end, give both."""
        rows, width = free.shape
        values = len(self.prefix)
        at = (np.arange(rows)[:, None] * values + self.rank[free]).ravel()
        hist = np.bincount(at, minlength=rows * values).reshape(rows, values)
        milli = np.bincount(at, free.ravel(), minlength=rows * values).reshape(rows, values)
        count = width - np.cumsum(hist, axis=1)[:, :-1]
        small = np.cumsum(milli, axis=1)[:, :-1].astype(np.int64)
        return count.T[self.group], small.T[self.group]

    def _shape_sums(self, enough: np.ndarray, spare: np.ndarray, gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What a share's change reads, given per (shape, row) masks and gaps: summed over the
        shapes of the u smallest milli values as (row, u, channel) for the channels
        exactly-enough * gap, exactly-enough, spare and enough (one product with `prefix`), and
        the weighted sum of enough * gap per row.  The first is a view of a work array, valid
        until the next call."""
        exact = enough & ~spare
        parts = self._buffer("parts", 4, *gap.shape)
        np.multiply(exact, gap, out=parts[0])
        parts[1], parts[2], parts[3] = exact, spare, enough
        sums = np.matmul(self.prefix, parts, out=self._buffer("sums", 4, len(self.prefix), gap.shape[1]))
        return sums.transpose(2, 1, 0), self.weights @ np.multiply(enough, gap, out=self._buffer("enough_gap", *gap.shape))

    def _buffer(self, name: str, *shape: int) -> np.ndarray:
        """A contiguous array of `shape` over work array `name`."""
        return self._work[name][:int(np.prod(shape))].reshape(shape)

    def _fed_sums(self, rows: Rows, cpu: np.ndarray) -> np.ndarray:
        """Where `rows` with `cpu` left read their sums (flat (level, row) spots), filling those
        whose statistics moved since they were summed."""
        level = np.searchsorted(self.levels, cpu, "right")
        spots = level * len(self.stamp) + rows
        stale = np.take(self.summed, spots) != np.take(self.stamp, rows)
        if stale.any():
            moved, at, fed = rows[stale], spots[stale], self.fed[:, level[stale]]
            shape = (len(self.milli), len(moved))
            enough, spare, gap = (np.take(getattr(self, name), moved, 1, out=self._buffer(name, *shape))
                                  for name in ("enough", "spare", "gap"))
            sums, gaps = self._shape_sums(np.logical_and(enough, fed, out=enough),
                                          np.logical_and(spare, fed, out=spare), gap)
            self.sums.reshape(-1, *self.sums.shape[2:])[at] = sums
            self.enough_gap.ravel()[at], self.summed.ravel()[at] = gaps, self.stamp[moved]
        return spots

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
        its small part shrinks by `need` where the shape is usable.  Each bound reads a row's four
        channels with one index (`sums` is row-major), and the integer channel sums combine
        exactly in any order, so a product with the channel weights is the same number."""
        free = np.take(snap.gpu_free, rows, axis=0)
        hi, lo = np.take(self.rank, free), np.take(self.rank, np.maximum(free - need, 0))
        spots = self._fed_sums(rows, cpu)
        high, low = _bounds(self.sums, spots, hi, lo)
        full = np.take(self.enough_gap, spots)
        weighted = (high @ np.array([1.0, -need, 0.0, need]) - low @ np.array([1.0, -need, 0.0, 0.0])
                    + (free - need) * (high[..., 2] - low[..., 2]))
        weighted += (self.total_weight * (snap.gpu_left[rows] - need) - full)[:, None]
        fits = (np.arange(free.shape[1]) < snap.gpu_count[rows][:, None]) & (free >= need)
        return np.where(fits, weighted / self.scale, np.nan)


def _bounds(sums: np.ndarray, spots: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, device, channel) sums at each device's upper and lower rank, from the
    (level, row, u, channel) table at each row's spot."""
    flat, at = sums.reshape(-1, 4), spots[:, None] * sums.shape[2]
    return np.take(flat, at + hi, axis=0), np.take(flat, at + lo, axis=0)


def integer_weights(weights: np.ndarray) -> tuple[np.ndarray, float]:
    """(integer weights, divisor) standing for `weights` / their sum: the weights themselves when
    they are whole numbers below 2**24 in all (counts, as in a trace's mix), else the shares in units
    of 2**-24.  Times free milli-GPU of a node (below 2**20) and summed, they stay exact in float64."""
    if np.array_equal(weights, np.round(weights)) and weights.sum() < 2**24:
        return weights.astype(np.int64), float(weights.sum())
    return np.round(weights / weights.sum() * 2**24).astype(np.int64), float(2**24)


def fgd_scores(model: FragmentationModel, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
    """Integer FGD score per (row, candidate device); NaN for devices that do not fit."""
    model.refresh(snap, rows)
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

    name = "FGDScore"

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


FGD_SCORERS = {"fgd": lambda ctx, shared: FgdScore(shared_model(ctx, shared))}
FGD_DEVICES = {"fgd": lambda ctx, shared: FgdDevices(shared_model(ctx, shared))}
