"""Device pickers: which GPU slots on the chosen node a GPU workload takes.

`best-fit` takes, for a share, the device with the least free milli-GPU that still fits (leaving
large holes intact) and, for whole GPUs, the lowest-numbered wholly free devices.  `first-fit`
takes the lowest-numbered devices that fit.  `random` takes a uniformly random device that fits.
The fragmentation-aware picker lives beside its scorer (`berth.engine.scorers.fgd`).
"""

from __future__ import annotations

import numpy as np

from berth.engine.scorers.fgd import FGD_DEVICES
from berth.engine.scorers.fgdss import FGD_SS_DEVICES
from berth.engine.scorers.fgdlook import FGD_LOOK_DEVICES
from berth.engine.scorers.fgdstrand import FGD_STRAND_DEVICES
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, Workload


class BestFitDevices:
    """A share goes to the fullest device it fits on; whole GPUs to the first free ones."""

    name = "best-fit"

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]:
        if workload.gpu_milli >= GPU_WHOLE:
            return snap.whole_devices(row, workload.gpu_count)
        free = snap.devices(row)
        fits = np.where(free >= workload.gpu_milli, free, GPU_WHOLE + 1)
        return (int(np.argmin(fits)),)


class FirstFitDevices:
    """The lowest-numbered devices that fit."""

    name = "first-fit"

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]:
        if workload.gpu_milli >= GPU_WHOLE:
            return snap.whole_devices(row, workload.gpu_count)
        return (int(np.argmax(snap.devices(row) >= workload.gpu_milli)),)


class RandomDevices:
    """A uniformly random device among those that fit a share; whole GPUs in order."""

    name = "random"

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]:
        if workload.gpu_milli >= GPU_WHOLE:
            return snap.whole_devices(row, workload.gpu_count)
        fits = np.flatnonzero(snap.devices(row) >= workload.gpu_milli)
        return (int(fits[rng.integers(len(fits))]),)


DEVICE_PICKERS = {
    **{picker.name: (lambda ctx, shared, picker=picker: picker())
       for picker in (BestFitDevices, FirstFitDevices, RandomDevices)},
    **FGD_DEVICES,
    **FGD_SS_DEVICES,
    **FGD_STRAND_DEVICES,
    **FGD_LOOK_DEVICES,
}
"""Device pickers by name."""
