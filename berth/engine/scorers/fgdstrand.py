"""`fgd-strand`: FGD whose fragment also counts GPU stranded by a node's lack of CPU, plus best fit on ties.

FGD (`berth.engine.scorers.fgd`) sees CPU only as a yes/no per typical shape, so it misses GPU
that a node's CPU can no longer feed.  `StrandModel` adds to FGD's fragment F a smooth stranding
term, the GPU the node's free CPU could not feed at the mix's average appetite:

    S(node) = max(0, free_gpu - free_cpu / r),  r = `cpu_per_gpu(mix)`, the mix's cpu per milli-GPU

and scores a placement as FGD does, trunc(100 * sigmoid(-(dF + STRANDING * dS) / 1000)), keeping
FGD's coarse integer buckets (ties between near-equal nodes stay random by name; dropping the
rounding places worse).  Within a bucket a GPU share prefers the device it fills most (a best-fit
bonus of at most FIT points, under one bucket, so it only breaks ties); whole GPUs and CPU-only
workloads score by F and S alone.  `StrandScore` takes the best device's score per node and
`StrandDevices` picks that device.  Invariant: the score reads only the node's own row and the
mix's statistics, so the engine's per-row score cache stays exact.  `fgd-lookahead`
(`berth.engine.scorers.fgdlook`) subclasses this model.  Registered through `FGD_STRAND_SCORERS`
and `FGD_STRAND_DEVICES` (collected by `berth.engine.scorers` and `berth.engine.devices`).

Why (the openb cluster's CPU-to-GPU ratios), how STRANDING and FIT were tuned, and the results:
docs/policies/fgd-strand.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.engine.plugins import Rows
from berth.engine.scorers.fgd import FragmentationModel, ModelScore, device_left, one_per_policy, typical_mix
from berth.engine.snapshot import Snapshot
from berth.model import GPU, GPU_WHOLE, ValidationError, Workload

STRANDING = 1.5
"""Milli-GPU of fragment per milli-GPU stranded by missing CPU."""
FIT = 0.5
"""Best-fit bonus for a share, at most this many score points (under one bucket: a tie-break)."""


@dataclass(frozen=True)
class StrandWeights:
    """The two knobs, as data (the policy uses the module defaults)."""

    stranding: float = STRANDING
    fit: float = FIT


def cpu_per_gpu(mix) -> float:
    """Mean cpu (milli) per milli-GPU over the GPU workloads of a mix of `DemandClass`es."""
    cpu = sum(d.cpu * d.weight for d in mix if d.gpu)
    gpu = sum(d.gpu * d.weight for d in mix if d.gpu)
    if gpu <= 0:
        raise ValidationError("policy.context.mix", "fgd-strand needs GPU workloads in the mix")
    return cpu / gpu


class StrandModel:
    """FGD's fragmentation model plus the stranding term, shared by the scorer and the picker."""

    def __init__(self, mix, weights: StrandWeights | None = None) -> None:
        self.weights = weights or WEIGHTS
        self.frag = FragmentationModel(typical_mix(mix))
        self.ratio = cpu_per_gpu(mix)

    def stranded(self, cpu: np.ndarray, gpu: np.ndarray) -> np.ndarray:
        """Milli-GPU a node's free CPU could not feed at the mix's cpu per milli-GPU."""
        return np.maximum(0.0, gpu - np.maximum(cpu, 0) / self.ratio)

    def prepare(self, snap: Snapshot) -> None:
        self.frag.prepare(snap)

    def delta(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        """dF + STRANDING * dS per (row, device); NaN where a share does not fit the device."""
        self.frag.refresh(snap)
        delta = self.frag.after(snap, workload, rows) - self.frag.frag[rows][:, None]
        cpu, gpu = snap.free[rows, 0], snap.gpu_left[rows]
        after = self.stranded(cpu - workload.requests["cpu"], gpu - workload.requests[GPU])
        return delta + self.weights.stranding * (after - self.stranded(cpu, gpu))[:, None]

    def scores(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        """Integer FGD-style score per (row, device), plus the best-fit tie-break for shares."""
        with np.errstate(over="ignore"):
            score = np.trunc(100 / (1 + np.exp(self.delta(snap, workload, rows) / 1000)))
        if workload.gpu_count and workload.gpu_milli < GPU_WHOLE:
            left = device_left(snap, rows, workload.gpu_milli)
            score = score + self.weights.fit * (1 - left / GPU_WHOLE)
        return score


class StrandScore(ModelScore):
    """Score plugin: the best score over the devices the workload could take."""

    name = "fgd-strand"

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return np.fmax.reduce(self.model.scores(snap, workload, rows), axis=1)


class StrandDevices:
    """Device picker: whole GPUs in order; a share on its best-scoring device (first on ties)."""

    name = "fgd-strand"

    def __init__(self, model: StrandModel) -> None:
        self.model = model

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]:
        if workload.gpu_milli >= GPU_WHOLE:
            return snap.whole_devices(row, workload.gpu_count)
        return (int(np.nanargmax(self.model.scores(snap, workload, np.array([row]))[0])),)


WEIGHTS = StrandWeights()
"""The weights the registered policy uses."""


def strand_model(ctx, shared: dict) -> StrandModel:
    """The model of one built policy, shared by its scorer and device picker."""
    return one_per_policy(shared, "fgd-strand", lambda: StrandModel(ctx.mix))


FGD_STRAND_SCORERS = {StrandScore.name: lambda ctx, shared: StrandScore(strand_model(ctx, shared))}
FGD_STRAND_DEVICES = {StrandDevices.name: lambda ctx, shared: StrandDevices(strand_model(ctx, shared))}
