"""`fgd-lookahead`: `fgd-strand` plus the expected eventual waste of the hole a GPU share leaves.

FGD's fragment looks one arrival ahead: a device's free amount h is idle for the typical shapes
that do not fit it.  What a share placement really decides is what becomes of the hole it leaves
once the cluster is full: later shares land in it until none fits.  From the workload mix alone
(the share sizes s with their frequencies q_s among all arrivals) this module precomputes, for
every hole size h, the expected milli-GPU that stays idle for good:

    W(h) = h                                                   if no share fits h
    W(h) = (1 - pi_h) * h + pi_h * sum_{s<=h} q_s W(h - s) / Q_h, Q_h = sum_{s<=h} q_s,
    pi_h = min(1, KAPPA * Q_h)

pi_h is the chance the hole gets used at all: shares that fit a 190 hole are about 1% of the
openb arrivals while hundreds of such holes are open, so most of them never fill (W(190) is about
170), whereas a 530 hole is nearly always topped up (W(530) about 120).  A wholly free device
counts 0 (whole-GPU workloads use it).  A share on a device with free f adds
LOOK * (W(f - s) - W(f)) to the `fgd-strand` change dF + STRANDING * dS before the sigmoid;
whole GPUs and CPU-only workloads score exactly as in `fgd-strand`.  W depends on the mix only
and the term on the row alone, so the engine's per-row score cache stays exact.

LOOK and KAPPA were tuned on the default trace with seeds 1-8 only (seeds 1-2 of gpushare100 and
gpuspec33 as a check), never 42-51: at 130% arrival `fgd-strand` gave 95.99 (seeds 1-4) and 95.96%
(5-8); LOOK 0.25 / 0.5 / 0.75 / 1 with KAPPA 10 gave -- / 96.02 / 95.99 / 96.00 (1-4) and 96.01 /
96.03 / -- / -- (5-8); KAPPA 3 did worse (95.95), 20 and 30 about the same.  Evaluated once on seeds
42-51 (`berth experiment fgd --trace T --policy fgd-lookahead --first-seed 42 --seeds 10`):
default trace 95.99% at 130% arrival (per seed 95.96-96.03; FGD published 95.39%, so 0.01 pp short
of 96.0%), 95.91% at 100% (FGD 95.23%); at 130% above FGD's published mean on all 17 traces, by
+0.16 pp (cpu250) to +1.39 pp (gpuspec33).  At 100% arrival it trails FGD on gpuspec20/25/33 (the
model-restricted traces fill later but further).

A second round of tuning used seeds 100-119 of the default trace only (20 seeds, never 42-51),
against 95.997% for this policy at 130% arrival: 36 variants, namely no or a reversed best-fit
tie-break for shares, best/worst-fit or cpu/GPU-balance tie-breaks for whole GPUs and cpu-only
workloads, STRANDING 1 and 2, a memory stranding term (0.5, 1), sigmoid scales 500-2000, LOOK 0.4
and 0.6, KAPPA 5 and 15, a smooth use chance 1 - exp(-KAPPA Q_h) (10, 20, 40), a W that leans to
the best-fitting next share (softmin over W(h - s), temperatures 50-200), the FGD term scaled by
0, 0.5 or 1.5 for shares, typical-mix coverage 0.9/0.99/1, and W per free-cpu level of the node
(for the device, or summed over the node's devices).  None gained more than 0.012 pp (paired
standard error 0.005-0.01 pp; most lost 0.01-0.07), so the weights above stand and no variant
was evaluated on 42-51.  After FGD's fragment became an exact integer sum (a zero change now
scores exactly 50 where a rounding sometimes gave 49), seeds 42-51 were rerun once as a check:
default trace 95.99% at 130% (per seed 95.96-96.03), 95.91% at 100%, the same as before, and
above FGD's published mean on all 17 traces at 130%, by +0.16 pp (cpu250) to +1.39 pp (gpuspec33).
`fgd-repair` is this policy with a repair step that moves placed shares when a workload fits
nowhere (`berth.engine.repair`): 96.12% on seeds 42-51 at 130%.
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

    name = "FGDLookahead"


class LookDevices(StrandDevices):
    """Device picker: whole GPUs in order; a share on its best-scoring device (first on ties)."""

    name = "fgd-lookahead"


def look_model(ctx, shared: dict) -> LookModel:
    """The model of one built policy, shared by its scorer and device picker."""
    return one_per_policy(shared, "fgd-lookahead", lambda: LookModel(ctx.mix))


FGD_LOOK_SCORERS = {"fgd-lookahead": lambda ctx, shared: LookScore(look_model(ctx, shared))}
FGD_LOOK_DEVICES = {"fgd-lookahead": lambda ctx, shared: LookDevices(look_model(ctx, shared))}
