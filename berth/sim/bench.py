"""The engine benchmark: kube-scheduler's scheduler_perf "SchedulingBasic" shape, on one core.

Nodes have 4 CPU, 32 GiB and 110 pods; pods ask for 100m CPU and 500 MiB.  `init_pods` are placed
first (upstream places 1,000 before measuring), then `pods` are placed one at a time under
`kube-default` and each decision is timed.  Every decision considers every node: with the score
cache on (the default) only rows changed since the last decision are re-filtered and re-scored,
which gives exactly the answer of a full evaluation; `cache=False` re-evaluates all rows.
Runs repeat and the median is reported, since shared machines are noisy.  `bench_trace` times
the decisions of the FGD experiment instead (the 1,213 openb GPU nodes, one seed's arrivals, any
policy), by wall clock and by this thread's CPU clock, so a busy machine's preemptions can be told
apart from the engine's own cost; it reports the slowest decision too, and apart from it the first
(which fills every per-row cache).  Objects built before the timed loop (the trace, the cluster,
the engine) are frozen out of the garbage collector (`gc.freeze`, as a long-running scheduler
does after start-up), so a full collection over them does not land inside one decision, and by
default the process runs with the decision loop's settings (`berth.engine.tuning`), as the
schedulers do.  Called by `berth bench`.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from berth.engine import Engine, PolicyContext
from berth.engine.tuning import for_decisions
from berth.model import Node, Resources, Workload
from berth.sim.trace import load_nodes, load_pods, node_list_path, pod_trace_path
from berth.sim.workload import demand_mix, prefix_node_names, prepare_arrivals

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


@dataclass(frozen=True)
class TraceRun:
    """One seed's decisions.  With several replays each decision counts at its fastest replay
    (what the code costs, without the machine's noise); `raw_cpu_max_us` is the slowest decision
    of any replay as measured, and `build_ms` the slowest engine construction."""

    seed: int
    nodes: int
    decisions: int
    replays: int
    build_ms: float
    raw_cpu_max_us: float
    wall_p50_us: float
    wall_p99_us: float
    wall_max_us: float
    cpu_p50_us: float
    cpu_p99_us: float
    cpu_max_us: float
    cpu_first_us: float
    cpu_max_after_first_us: float


@dataclass(frozen=True)
class TraceBench:
    """Medians of the runs' percentiles; the maxima are the slowest single decision of any run."""

    trace: str
    policy: str
    runs: list[TraceRun]
    wall_p50_us: float
    wall_p99_us: float
    wall_max_us: float
    cpu_p50_us: float
    cpu_p99_us: float
    cpu_max_us: float
    cpu_max_after_first_us: float
    raw_cpu_max_us: float
    cpu: int | None
    tuning: dict | None
    """What `berth.engine.tuning.for_decisions()` put in force (None: the process's defaults)."""

    def to_dict(self) -> dict:
        return asdict(self)


def trace_run(trace: str, policy: str, seed: int, replays: int = 1) -> TraceRun:
    """Every decision of one FGD-experiment run (arrivals up to 130%), timed one by one, `replays` times."""
    cluster = prefix_node_names(load_nodes(node_list_path()), seed)
    pods = load_pods(pod_trace_path(trace))
    arrivals = prepare_arrivals(pods, seed, 1.3, sum(n.gpus for n in cluster) * 1000)
    context = PolicyContext(mix=demand_mix(pods))
    timed = [_replay(cluster, arrivals, policy, seed, context) for _ in range(replays)]
    build, wall, cpu = (np.array([t[k] for t in timed]) for k in range(3))
    raw = float(cpu.max() / 1e3)
    wall, cpu = wall.min(axis=0), cpu.min(axis=0)
    pct = lambda a, q: float(np.percentile(a, q) / 1e3)  # noqa: E731
    return TraceRun(seed, len(cluster), len(arrivals), replays, float(build.max() / 1e6), raw,
                    pct(wall, 50), pct(wall, 99), pct(wall, 100), pct(cpu, 50), pct(cpu, 99), pct(cpu, 100),
                    float(cpu[0] / 1e3), pct(cpu[1:], 100))


def _replay(cluster, arrivals, policy, seed, context) -> tuple[float, np.ndarray, np.ndarray]:
    """(engine construction ns, wall ns and CPU ns per decision) for one replay of `arrivals`."""
    started = time.perf_counter_ns()
    engine = Engine(cluster, policy, seed=seed, context=context, moves=True)
    build = time.perf_counter_ns() - started
    wall, cpu = np.empty(len(arrivals)), np.empty(len(arrivals))
    gc.collect()
    gc.freeze()
    try:
        for i, workload in enumerate(arrivals):
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            engine.place(workload)
            cpu[i], wall[i] = time.thread_time_ns() - c0, time.perf_counter_ns() - w0
    finally:
        gc.unfreeze()
    return build, wall, cpu


def bench_trace(trace: str, policy: str, seeds: list[int], one_core: bool = True, tuned: bool = True,
                replays: int = 1, progress: Callable[[int], None] = lambda done: None) -> TraceBench:
    """`trace_run` for each seed; medians over the runs, and the slowest decision of all.  With
    `tuned` the process runs with the decision loop's settings, as the schedulers' processes do."""
    cpu = pin_to_one_core() if one_core else None
    tuning = for_decisions() if tuned else None
    runs = []
    for seed in seeds:
        runs.append(trace_run(trace, policy, seed, replays))
        progress(len(runs))
    med = lambda attr: float(np.median([getattr(r, attr) for r in runs]))  # noqa: E731
    top = lambda attr: max(getattr(r, attr) for r in runs)  # noqa: E731
    return TraceBench(trace, policy, runs, med("wall_p50_us"), med("wall_p99_us"), top("wall_max_us"),
                      med("cpu_p50_us"), med("cpu_p99_us"), top("cpu_max_us"), top("cpu_max_after_first_us"),
                      top("raw_cpu_max_us"), cpu, tuning)
