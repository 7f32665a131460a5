"""The engine benchmark: kube-scheduler's scheduler_perf "SchedulingBasic" shape, on one core.

Nodes have 4 CPU, 32 GiB and 110 pods; pods ask for 100m CPU and 500 MiB.  `init_pods` are placed
first (upstream places 1,000 before measuring), then `pods` are placed one at a time under
`kube-default` and each decision is timed.  Every decision considers every node: with the score
cache on (the default) only rows changed since the last decision are re-filtered and re-scored,
which gives exactly the answer of a full evaluation; `cache=False` re-evaluates all rows.
Runs repeat and the median is reported, since shared machines are noisy.  Called by `berth bench`.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from berth.engine import Engine
from berth.model import Node, Resources, Workload

UPSTREAM_PODS_PER_S = 680
"""scheduler_perf's threshold for SchedulingBasic/5000Nodes_10000Pods (Go, end to end)."""


@dataclass(frozen=True)
class BenchRun:
    decisions_per_s: float
    p50_us: float
    p99_us: float
    placed: int


@dataclass(frozen=True)
class BenchResult:
    nodes: int
    pods: int
    init_pods: int
    policy: str
    cache: bool
    runs: list[BenchRun]
    decisions_per_s: float
    p50_us: float
    p99_us: float
    peak_rss_mib: float
    cpu: int | None
    upstream_reference_pods_per_s: int = UPSTREAM_PODS_PER_S

    def to_dict(self) -> dict:
        return asdict(self)


def basic_nodes(count: int) -> list[Node]:
    """`count` nodes of the SchedulingBasic shape."""
    capacity = Resources.of(cpu=4000, memory=32 * 1024, pods=110)
    return [Node(f"node-{i}", capacity) for i in range(count)]


def basic_pods(count: int, prefix: str = "pod") -> list[Workload]:
    """`count` pods of the SchedulingBasic shape."""
    requests = Resources.of(cpu=100, memory=500)
    return [Workload(f"{prefix}-{i}", requests) for i in range(count)]


def pin_to_one_core() -> int | None:
    """Restrict this process to one CPU (the first allowed); returns it, or None if unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def run_once(nodes: list[Node], pods: list[Workload], init: list[Workload], policy: str, cache: bool) -> BenchRun:
    """Place `init`, then time each decision for `pods` on a fresh engine."""
    engine = Engine(nodes, policy, seed=1, cache=cache)
    for pod in init:
        engine.place(pod)
    latencies = np.empty(len(pods))
    placed = 0
    clock = time.perf_counter_ns
    start = clock()
    for i, pod in enumerate(pods):
        t0 = clock()
        placed += engine.place(pod).ok
        latencies[i] = clock() - t0
    elapsed = (clock() - start) / 1e9
    return BenchRun(len(pods) / elapsed, float(np.percentile(latencies, 50) / 1e3),
                    float(np.percentile(latencies, 99) / 1e3), placed)


def bench_engine(nodes: int, pods: int, init_pods: int = 1000, repeat: int = 3, policy: str = "kube-default",
                 cache: bool = True, one_core: bool = True,
                 progress: Callable[[int], None] = lambda done: None) -> BenchResult:
    """Run the benchmark `repeat` times and report medians."""
    cpu = pin_to_one_core() if one_core else None
    node_list, pod_list = basic_nodes(nodes), basic_pods(pods)
    init = basic_pods(init_pods, prefix="init")
    runs = []
    for i in range(repeat):
        runs.append(run_once(node_list, pod_list, init, policy, cache))
        progress(i + 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = lambda attr: float(np.median([getattr(r, attr) for r in runs]))  # noqa: E731
    return BenchResult(nodes, pods, init_pods, policy, cache, runs, med("decisions_per_s"), med("p50_us"),
                       med("p99_us"), peak, cpu)
