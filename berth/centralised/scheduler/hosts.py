"""From Placement's allocation candidates to the engine's vocabulary: nodes, usage, a workload.

Each candidate root provider that a registered agent owns becomes one engine `Node`: capacity
and usage come from `provider_summaries` (VCPU as millicores of `cpu`, MEMORY_MB as `memory`,
other classes as `placement.openstack.org/<CLASS>` dimensions).  Nova's host-state checks are
expressed in the engine's own vocabulary, so the engine's filters do the work:
a down or disabled agent gets a NoSchedule taint (ComputeFilter -> TaintToleration), members
of the request's server group are charged as zero-size workloads in that group
(`group_member`: ServerGroupAntiAffinityFilter -> InterPodAffinity; soft weighers count them),
and affinity or hosts already tried become node-selector requirements
(ServerGroupAffinityFilter, RetryFilter -> NodeAffinity).  Pure; called by `hoststate` and
`select`.
"""

from __future__ import annotations

from dataclasses import dataclass

from berth.centralised.scheduler.request import GroupInfo, RequestSpec
from berth.model import AntiAffinity, LabelRequirement, Node, Resources, Taint, Workload
from berth.model.node import HOSTNAME_LABEL

DIMS = {"VCPU": ("cpu", 1000), "MEMORY_MB": ("memory", 1)}
CUSTOM_PREFIX = "placement.openstack.org/"
DOWN = Taint("berth.io/compute-down", "true")
DISABLED = Taint("berth.io/compute-disabled", "true")
BASE_DIMS = ("cpu", "memory", CUSTOM_PREFIX + "DISK_GB")
"""Every snapshot of hosts has these columns (the disk weigher reads DISK_GB)."""


@dataclass(frozen=True)
class HostInfo:
    """A compute agent as the scheduler knows it from the services table."""

    host: str
    rp_uuid: str
    url: str
    zone: str
    up: bool
    disabled: bool


@dataclass(frozen=True)
class Candidate:
    host: HostInfo
    allocation_request: dict
    summary: dict


def dim(rc: str) -> tuple[str, int]:
    """The engine dimension and unit factor for a Placement resource class."""
    return DIMS.get(rc, (CUSTOM_PREFIX + rc, 1))


def candidates(ac: dict, hosts: dict[str, HostInfo]) -> list[Candidate]:
    """One candidate per root provider with an agent: its first allocation request."""
    summaries, out, seen = ac.get("provider_summaries", {}), [], set()
    for req in ac.get("allocation_requests", []):
        rps = list(req["allocations"])
        root = summaries.get(rps[0], {}).get("root_provider_uuid", rps[0]) if rps else None
        if root in seen or root not in hosts:
            continue
        seen.add(root)
        out.append(Candidate(hosts[root], req["allocations"], summaries.get(root, {})))
    return out


def _amounts(summary: dict, key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for rc, numbers in summary.get("resources", {}).items():
        name, factor = dim(rc)
        out[name] = int(numbers.get(key, 0)) * factor
    return out


def node(c: Candidate) -> Node:
    taints = (DOWN,) * (not c.host.up) + (DISABLED,) * c.host.disabled
    return Node(c.host.host, Resources({k: v for k, v in _amounts(c.summary, "capacity").items()}), taints=taints)


def usage(c: Candidate) -> Resources:
    """What the host's summary says is in use (the classes with a positive amount)."""
    return Resources({k: v for k, v in _amounts(c.summary, "used").items() if v > 0})


def group_member(group: GroupInfo, i: int) -> Workload:
    """The `i`-th member of `group`, as a zero-size workload in its anti-affinity group."""
    return Workload(f"group-member-{i}", Resources({}), anti_affinity=(AntiAffinity(group.id),))


def workload(spec: RequestSpec) -> Workload:
    """The engine workload for `spec`: requests, group anti-affinity, affinity and retry selectors."""
    requests = {}
    for rc, n in spec.resources.items():
        name, factor = dim(rc)
        requests[name] = n * factor
    selector, anti = [], ()
    group = spec.group
    if group and group.policy == "affinity" and group.hosts:
        selector.append(LabelRequirement(HOSTNAME_LABEL, "In", tuple(sorted(set(group.hosts)))))
    if group and group.policy == "anti-affinity":
        anti = (AntiAffinity(group.id),)
    if spec.ignore_hosts:
        selector.append(LabelRequirement(HOSTNAME_LABEL, "NotIn", tuple(sorted(set(spec.ignore_hosts)))))
    return Workload(f"i-{spec.instance_uuid.lower()}", Resources(requests), node_selector=tuple(selector),
                    anti_affinity=anti)

