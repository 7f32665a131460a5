"""The placement engine: a columnar snapshot, filter and score plugins, policies, and `Engine`.

Public API: `Engine(cluster, policy).place(workload) -> Placement | Unschedulable`,
`Engine.release(name)` and the other calls listed in `Engine`'s module docstring (the planes use
nothing else of it); `POLICIES` lists the named policies.  Both control planes and the simulator
call this package; nothing here does I/O.
"""

from berth.engine.engine import Engine
from berth.engine.policy import POLICIES, DemandClass, Policy, PolicyContext, get_policy
from berth.engine.snapshot import Snapshot
from berth.engine.status import Placement, Unschedulable

__all__ = ["DemandClass", "Engine", "POLICIES", "Placement", "Policy", "PolicyContext", "Snapshot",
           "Unschedulable", "get_policy"]
