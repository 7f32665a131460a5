"""How units of work actually run on a machine: the `Runtime` contract and its implementations.

`Runtime` (in `base`) is the plane-neutral contract the node agents of both control planes, the
simulator and the benchmarks call; `RUNTIMES` maps a name to a factory: `process` (real
subprocesses with log files) and `fake` (in-memory timers, for thousands of agents in one
process) and `container` (podman containers from images; a group is a pod).  `Clock`s live in
`clock`.
"""

from berth.runtime.base import (ExecResult, Mount, RestartPolicy, Runtime, UnitResources, UnitSpec, UnitState,
                                UnitStatus, Usage)
from berth.runtime.clock import Clock, ManualClock, SystemClock
from berth.runtime.container import ContainerRuntime
from berth.runtime.fake import FakeRuntime
from berth.runtime.process import ProcessRuntime
from berth.runtime.vm import VmRuntime

RUNTIMES = {
    "process": ProcessRuntime,
    "fake": FakeRuntime,
    "vm": VmRuntime,
    "container": ContainerRuntime,
}
"""Runtime factories by name; each accepts `clock=` as a keyword argument."""

__all__ = ["Clock", "ContainerRuntime", "ExecResult", "FakeRuntime", "ManualClock", "Mount", "ProcessRuntime",
           "RUNTIMES", "RestartPolicy", "Runtime", "SystemClock", "UnitResources", "UnitSpec", "UnitState", "UnitStatus", "Usage",
           "VmRuntime"]
