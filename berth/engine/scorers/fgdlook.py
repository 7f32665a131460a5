"""`fgd-lookahead`: `fgd-strand` plus the expected eventual waste of the hole a GPU share leaves.

`eventual_waste(mix)` precomputes, from the mix's share sizes s and their frequencies q_s among all
arrivals, the expected milli-GPU W(h) that a hole of h milli-GPU leaves idle for good once the
cluster is full (later shares land in it until none fits; pi_h is the chance it is used at all):

    W(h) = h                                                   if no share fits h
    W(h) = (1 - pi_h) * h + pi_h * sum_{s<=h} q_s W(h - s) / Q_h, Q_h = sum_{s<=h} q_s,
    pi_h = min(1, KAPPA * Q_h)

A wholly free device counts 0 (whole-GPU workloads use it).  `LookModel.delta` adds, for a share
of s on a device with free f, LOOK * (W(f - s) - W(f)) to `fgd-strand`'s change dF + STRANDING * dS
before the sigmoid; whole GPUs and CPU-only workloads score exactly as in `fgd-strand`, whose
scorer and device picker this module subclasses.  Invariant: W depends on the mix only and the
term on the row alone, so the engine's per-row score cache stays exact.  `fgd-repair` is this
policy with `berth.engine.repair`'s repack repair.  Registered through `FGD_LOOK_SCORERS` and
`FGD_LOOK_DEVICES` (collected by `berth.engine.scorers` and `berth.engine.devices`).

How LOOK and KAPPA were tuned, and the results: docs/policies/fgd-lookahead.md.
"""

from __future__ import annotations

import numpy as np

from berth.engine.plugins import Rows
from berth.engine.scorers.fgd import device_free, device_left, one_per_policy
from berth.engine.scorers.fgdstrand import StrandDevices, StrandModel, StrandScore
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, Workload

LOOK = 0.5
"""Milli-GPU of fragment per milli-GPU of expected eventual waste."""
KAPPA = 10.0
"""How many future arrivals, per unit of a share's frequency, an open hole can hope to meet."""


def eventual_waste(mix, kappa: float = KAPPA) -> np.ndarray:
    """W(h) for h = 0..1000 milli-GPU, from the share sizes of a mix of `DemandClass`es."""
    total = sum(d.weight for d in mix) or 1.0
    weights: dict[int, float] = {}
    for d in mix:
        if 0 < d.gpu < GPU_WHOLE:
            weights[d.gpu] = weights.get(d.gpu, 0.0) + d.weight
    sizes = np.array(sorted(weights), np.int64)
    freq = np.array([weights[s] for s in sizes]) / total
    waste = np.zeros(GPU_WHOLE + 1)
    for h in range(1, GPU_WHOLE):
        fits = sizes <= h
        fitting = freq[fits].sum()
        if not fitting:
            waste[h] = h
            continue
        used = min(1.0, kappa * fitting)
        waste[h] = (1 - used) * h + used * (freq[fits] @ waste[h - sizes[fits]]) / fitting
    return waste


class LookModel(StrandModel):
    """`fgd-strand`'s model plus the eventual-waste change of the device a share goes on."""

    def __init__(self, mix, look: float = LOOK, kappa: float = KAPPA) -> None:
        super().__init__(mix)
        self.look, self.waste = look, eventual_waste(mix, kappa)

    def delta(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        delta = super().delta(snap, workload, rows)
        if not workload.gpu_count or workload.gpu_milli >= GPU_WHOLE:
            return delta
        free, left = device_free(snap, rows), device_left(snap, rows, workload.gpu_milli)
        return delta + self.look * (np.take(self.waste, left) - np.take(self.waste, free))


class LookScore(StrandScore):
    """Score plugin: the best score over the devices the workload could take."""

    name = "fgd-lookahead"


class LookDevices(StrandDevices):
    """Device picker: whole GPUs in order; a share on its best-scoring device (first on ties)."""

    name = "fgd-lookahead"


def look_model(ctx, shared: dict) -> LookModel:
    """The model of one built policy, shared by its scorer and device picker."""
    return one_per_policy(shared, "fgd-lookahead", lambda: LookModel(ctx.mix))


FGD_LOOK_SCORERS = {LookScore.name: lambda ctx, shared: LookScore(look_model(ctx, shared))}
FGD_LOOK_DEVICES = {LookDevices.name: lambda ctx, shared: LookDevices(look_model(ctx, shared))}
