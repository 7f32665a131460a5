"""Turning a trace into an arrival sequence, and summarising it as a demand mix.

`prepare_arrivals` follows the FGD protocol: shuffle the trace's pods with the seed, then resample
pods (with replacement, same generator) and append them until the GPU requests reach `tune` times
the cluster's GPU capacity; if the trace alone is over that, pods are dropped from the end.
`demand_mix` counts the trace's request shapes for policies that measure fragmentation.
`prefix_node_names` gives each node a random `NNNN-` prefix, as the authors' simulator does when
it loads a cluster, so the policies' "smallest name wins a tie" rule picks a random (but fixed
for the run) node rather than always the same one.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from berth.engine import DemandClass
from berth.model import GPU, Node, Workload
from berth.sim.trace import TracePod


def prepare_arrivals(pods: list[TracePod], seed: int, tune: float, capacity: int) -> list[Workload]:
    """The arrival order for one run: shuffled, then resampled up to `tune` x `capacity` milli-GPU."""
    rng = np.random.default_rng(seed)
    arrivals = [pods[i].workload for i in rng.permutation(len(pods))]
    target = tune * capacity
    total = sum(w.requests[GPU] for w in arrivals)
    while arrivals and total > target:
        total -= arrivals.pop().requests[GPU]
    copies = 0
    while total < target:
        source = pods[int(rng.integers(len(pods)))].workload
        copies += 1
        arrivals.append(dataclasses.replace(source, name=f"{source.name}-r{copies}"))
        total += source.requests[GPU]
    return arrivals


def demand_mix(pods: list[TracePod]) -> tuple[DemandClass, ...]:
    """The trace's request shapes with their counts as weights."""
    counts = Counter((p.workload.requests["cpu"], p.workload.requests["memory"], p.workload.requests[GPU],
                      p.gpu_spec) for p in pods)
    return tuple(DemandClass(cpu, mem, gpu, spec, float(n)) for (cpu, mem, gpu, spec), n in sorted(counts.items()))


def prefix_node_names(nodes: list[Node], seed: int) -> list[Node]:
    """Nodes sorted by name, each renamed `f"{k:04d}-{name}"` for a seeded permutation k."""
    ordered = sorted(nodes, key=lambda n: n.name)
    perm = np.random.default_rng([seed, len(ordered)]).permutation(len(ordered))
    return [dataclasses.replace(n, name=f"{int(k):04d}-{n.name}") for n, k in zip(ordered, perm)]
