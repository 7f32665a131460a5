"""Score plugins, one module per family: Kubernetes', Nova's and the GPU-sharing policies'.

`SCORERS` maps a plugin name to a factory taking the `PolicyContext`; policies refer to these
names with weights (see `berth.engine.policy`).
"""

from berth.engine.scorers.gpu import GPU_SCORERS
from berth.engine.scorers.fgd import FGD_SCORERS
from berth.engine.scorers.fgdss import FGD_SS_SCORERS
from berth.engine.scorers.fgdlook import FGD_LOOK_SCORERS
from berth.engine.scorers.fgdstrand import FGD_STRAND_SCORERS
from berth.engine.scorers.kube import KUBE_SCORERS
from berth.engine.scorers.nova import NOVA_SCORERS

SCORERS = {**KUBE_SCORERS, **NOVA_SCORERS, **GPU_SCORERS, **FGD_SCORERS, **FGD_SS_SCORERS,
           **FGD_STRAND_SCORERS, **FGD_LOOK_SCORERS}

__all__ = ["SCORERS"]
