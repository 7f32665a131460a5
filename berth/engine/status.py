"""Outcomes of a placement decision, as data: `Placement`, `Unschedulable` and reason histograms.

The engine never raises for an expected outcome.  `Engine.place` returns either a `Placement`
(the node, the GPU devices taken, the score) or an `Unschedulable` carrying, per reason, how many
nodes gave it.  `Unschedulable.message` words it as kube-scheduler does:
`0/1213 nodes are available: 413 node(s) didn't match Pod's node affinity/selector, 800 Insufficient gpu.`
(reasons sorted as strings, as upstream's `sortReasonsHistogram` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

INSUFFICIENT = "Insufficient {}"
TOO_MANY_PODS = "Too many pods"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
UNTOLERATED_TAINT = "node(s) had untolerated taint {}"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"


@dataclass(frozen=True)
class Placement:
    """A successful decision: the workload goes to `node`, using GPU slots `devices`."""

    workload: str
    node: str
    devices: tuple[int, ...] = ()
    score: float = 0.0
    moved: tuple[tuple[str, str, tuple[int, ...]], ...] = ()
    """Placed workloads a repair moved to make room: (name, new node, new devices)."""

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True)
class Unschedulable:
    """No node can take the workload; `reasons` maps a reason to the number of nodes giving it."""

    workload: str
    total_nodes: int
    reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return False

    @property
    def message(self) -> str:
        """The upstream wording: '0/N nodes are available: <count> <reason>, ...'."""
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        tail = f": {', '.join(parts)}." if parts else "."
        return f"0/{self.total_nodes} nodes are available{tail}"

    def __str__(self) -> str:
        return self.message
