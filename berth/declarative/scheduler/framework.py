"""One scheduling cycle, without I/O: a pending Pod object in, a `Decision` out.

`decide` converts the pod (`convert`), asks the profile's engine to place it (`ClusterState.assume`
runs the engine's filter and score plugins and holds the resources), and when no node fits, asks
preemption (`select_victims`) whether evicting lower-priority pods would help.  The scheduler
acts on the decision: bind, report FailedScheduling (the engine's `Unschedulable.message`, worded
as upstream), evict victims.  Tests call `decide` directly on an in-memory `ClusterState`.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.declarative.scheduler.cache import ClusterState
from berth.declarative.scheduler.convert import ConversionError, workload_from_pod
from berth.declarative.scheduler.preemption import Preemption, select_victims
from berth.engine import Placement

BIND, UNSCHEDULABLE, INVALID = "bind", "unschedulable", "invalid"


@dataclass(frozen=True)
class Decision:
    """What to do with one pod: `outcome` is bind, unschedulable or invalid."""

    key: str
    outcome: str
    node: str = ""
    message: str = ""
    preemption: Preemption | None = None


def pod_key(pod: dict) -> str:
    meta = pod["metadata"]
    return f"{meta.get('namespace', 'default')}/{meta['name']}"


def scheduler_name(pod: dict) -> str:
    return (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"


def decide(state: ClusterState, pod: dict, preempt: bool = True) -> Decision:
    """Place `pod` with its profile's engine (holding the node's resources on success)."""
    key = pod_key(pod)
    try:
        workload = workload_from_pod(pod)
    except ConversionError as err:
        return Decision(key, INVALID, message=str(err))
    result = state.assume(key, scheduler_name(pod), workload)
    if isinstance(result, Placement):
        return Decision(key, BIND, node=result.node)
    victims = select_victims(state, scheduler_name(pod), workload) if preempt else None
    message = result.message
    if preempt and victims is None and result.total_nodes:
        n = result.total_nodes
        message += f" preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."
    return Decision(key, UNSCHEDULABLE, message=message, preemption=victims)
