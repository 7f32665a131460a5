"""The declarative plane's benchmark: pods created over HTTP, scheduled and bound by the scheduler process.

Shape: kube-scheduler's scheduler_perf SchedulingBasic (nodes of 4 CPU / 32 GiB / 110 pods, pods
of 100m / 500 MiB).  A `LocalCluster` runs the API server (SQLite in a temporary directory by
default) and the scheduler as two child processes, and this process hosts `nodes` fake-runtime
node agents (registered Nodes, Leases, pod status) in one `AgentHost`.  `init_pods` are created
and bound first; then `pods` are created through the API by `creators` threads (each with its own
keep-alive connection, one request in flight) in a third child process, the load generator, so
that they do not share an interpreter lock with the 5,000 agents; the scheduler binds with `binders` concurrent
`pods/binding` requests, and each pod's create-to-bound latency runs from just before its POST to
when the agents' watch delivers it bound.  Throughput is measured pods over the span from the
first POST to the last bind seen.  The agents post every pod's Running status through `writers`
concurrent requests; those that are still queued when the last pod is bound are written after
the measurement (`agent_writes` counts those written within it).  No controllers run (the pods
are bare, as upstream's benchmark), and the scheduler skips its per-pod Scheduled events
(FailedScheduling events still go out); agents renew their Leases every 30 s (upstream kubelets:
10 s).  Like the API server and scheduler processes, this process freezes what it built during set-up
(5,000 agents, the informer's cache) out of the garbage collector's scans and collects less often while it
measures.  `cpu_ms_per_pod["apiserver"]` is the API server's own cost per pod (create, bind, the agents'
status writes and every watch), the figure to follow when changing the server.  Everything runs as
`berth up` does: over TLS, every part with its own credential (the load generator as the administrator,
reading the kubeconfig whose path it is given; the agents each with their node's token) through
authentication and authorisation; `insecure=True` serves plain HTTP with bearer tokens instead, only to
measure what TLS costs.  The load generator
is a `KubeClient` like every component (unary calls over `client.wire`, watches over httpx): one that
cost more CPU per pod would take it from the processes measured on a small machine.  Called by
`berth bench declarative`.
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import orjson

from berth.declarative.client import Credentials, KubeClient
from berth.launch.declarative import LocalCluster

UPSTREAM_PODS_PER_S = 680
NODE_CAPACITY = {"cpu": "4", "memory": "32Gi", "pods": "110"}


@dataclass(frozen=True)
class DeclarativeBench:
    nodes: int
    pods: int
    init_pods: int
    store: str
    pods_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    bound: int
    create_s: float
    total_s: float
    setup_s: float
    agent_writes: int
    """Pod status writes the agents completed while the measured pods were created and bound."""
    cpu_ms_per_pod: dict
    """CPU milliseconds per measured pod, by process: apiserver, scheduler, bench (this process: the agents)
    and creators (the load generator, while it creates)."""
    backlog_pods_per_s: float | None = None
    """Scheduling alone: `pods` created with no scheduler running, then bound by a fresh scheduler
    process; bound pods over the span from the first to the last bind seen (None if not measured)."""
    upstream_reference_pods_per_s: int = UPSTREAM_PODS_PER_S

    def to_dict(self) -> dict:
        return asdict(self)


def pod_body(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "100m", "memory": "500Mi"},
                                                   "limits": {"cpu": "100m", "memory": "500Mi"}}}]}}


class BindWatch:
    """Records when each pod is first seen bound (hooked into the agents' pod informer)."""

    def __init__(self) -> None:
        self.bound: dict[str, float] = {}
        self.event = threading.Event()
        self.target = 0

    def seen(self, pod: dict) -> None:
        name = pod["metadata"]["name"]
        if (pod.get("spec") or {}).get("nodeName") and name not in self.bound:
            self.bound[name] = time.perf_counter()
            if len(self.bound) >= self.target:
                self.event.set()


def create_all(url: str, names: list[str], creators: int, sent: dict[str, float],
               credentials: Credentials | None = None) -> None:
    """POST every pod with `creators` threads, each with its own keep-alive connection."""
    chunks = [names[i::creators] for i in range(creators)]

    def work(chunk: list[str]) -> None:
        client = KubeClient(url, credentials=credentials)
        try:
            for name in chunk:
                sent[name] = time.perf_counter()
                client.create("pods", pod_body(name), "default")
        finally:
            client.close()

    with ThreadPoolExecutor(creators) as pool:
        list(pool.map(work, chunks))


class Creators:
    """`create_all` in a child process of its own (`python -c`, so callers need no main-module guard), driven
    over its stdin and stdout: one JSON line of pod names in, one JSON line of send times and CPU out.
    It reads its credentials from the kubeconfig at `kubeconfig` (a path on its command line, never a secret)."""

    def __init__(self, url: str, creators: int, kubeconfig: str) -> None:
        code = (f"from berth.sim.kubebench import serve_creators; "
                f"serve_creators({url!r}, {creators:d}, {str(kubeconfig)!r})")
        self._proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._reply()  # ready: imports done

    def create(self, names: list[str]) -> tuple[dict[str, float], float]:
        """POST every pod; returns when each was sent (perf_counter, the system-wide monotonic clock) and the
        CPU seconds the process used meanwhile."""
        self._proc.stdin.write(orjson.dumps(names) + b"\n")
        self._proc.stdin.flush()
        reply = self._reply()
        return reply["sent"], reply["cpu"]

    def _reply(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the creator process exited with code {self._proc.wait()}")
        reply = orjson.loads(line)
        if "error" in reply:
            raise RuntimeError(f"creating pods failed: {reply['error']}")
        return reply

    def close(self) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()


def serve_creators(url: str, creators: int, kubeconfig: str) -> None:
    """The creator process: answers each line of pod names on stdin once all are created (see `Creators`)."""
    credentials = Credentials.from_kubeconfig(kubeconfig)
    out = sys.stdout.buffer
    out.write(b"{}\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            sent: dict[str, float] = {}
            before = time.process_time()
            create_all(url, orjson.loads(line), creators, sent, credentials)
            reply = {"sent": sent, "cpu": time.process_time() - before}
        except Exception as err:  # reported to the parent, which raises it
            reply = {"error": f"{type(err).__name__}: {err}"}
        out.write(orjson.dumps(reply) + b"\n")
        out.flush()


def bench_declarative(nodes: int = 5000, pods: int = 10000, init_pods: int = 1000, *, creators: int = 16,
                      binders: int = 32, writers: int = 4, store: str = "sqlite", timeout: float = 300.0,
                      coalesce: bool = True, insecure: bool = False,
                      progress: Callable[[str], None] = lambda step: None) -> DeclarativeBench:
    """Run once; returns throughput and create-to-bound percentiles."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        cluster = LocalCluster(state_dir=tmp if store == "sqlite" else None, nodes=nodes, runtime="fake",
                               node_capacity=NODE_CAPACITY, scheduler_process=True, controllers=False,
                               lease_interval=30.0, status_interval=3600.0,
                               normal_events=False, binders=binders, agent_writers=writers, coalesce=coalesce,
                               insecure=insecure)
        progress(f"starting the API server, the scheduler and {nodes} fake node agents")
        cluster.start()
        load = None
        try:
            load = Creators(cluster.url, creators, str(cluster.kubeconfig))
            watch = BindWatch()
            original = cluster.host.pods.on_add
            cluster.host.pods.on_add = lambda pod: (watch.seen(pod), original(pod))
            if init_pods:
                progress(f"creating {init_pods} initial pods")
                _phase(load, [f"init-{i}" for i in range(init_pods)], watch, timeout)
            setup = time.perf_counter() - t0
            progress(f"creating {pods} measured pods")
            names = [f"pod-{i}" for i in range(pods)]
            with _collect_less():
                before, writes_before = _cpu(cluster), cluster.host.writes
                sent, create_s, creators_cpu = _phase(load, names, watch, timeout)
                cpu = {k: 1000 * (v - before[k]) / pods for k, v in _cpu(cluster).items()}
                cpu["creators"] = 1000 * creators_cpu / pods
                writes = cluster.host.writes - writes_before
        finally:
            if load is not None:
                load.close()
            cluster.stop()
    latencies = np.array([watch.bound[n] - sent[n] for n in names if n in watch.bound]) * 1000
    first, last = min(sent.values()), max(watch.bound[n] for n in names if n in watch.bound)
    return DeclarativeBench(nodes, pods, init_pods, store, len(latencies) / (last - first),
                            float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99)),
                            float(latencies.max()), len(latencies), create_s, last - first, setup, writes, cpu)


def bench_backlog(nodes: int, pods: int, *, creators: int = 16, binders: int = 32, store: str = "sqlite",
                  timeout: float = 300.0, coalesce: bool = True, insecure: bool = False,
                  progress: Callable[[str], None] = lambda step: None) -> float:
    """Pods/s a fresh scheduler process binds from a backlog of `pods` pending pods."""
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        cluster = LocalCluster(state_dir=tmp if store == "sqlite" else None, nodes=nodes, runtime="fake",
                               node_capacity=NODE_CAPACITY, scheduler_process=True, controllers=False,
                               start_scheduler=False, lease_interval=30.0, status_interval=3600.0,
                               normal_events=False, binders=binders, coalesce=coalesce, insecure=insecure)
        progress(f"backlog: starting the API server and {nodes} fake node agents")
        cluster.start()
        try:
            watch = BindWatch()
            original = cluster.host.pods.on_add
            cluster.host.pods.on_add = lambda pod: (watch.seen(pod), original(pod))
            progress(f"backlog: creating {pods} pending pods")
            create_all(cluster.url, [f"backlog-{i}" for i in range(pods)], creators, {}, cluster.admin)
            watch.target = pods
            progress("backlog: starting the scheduler")
            cluster.launch_scheduler()
            if not watch.event.wait(timeout):
                raise TimeoutError(f"{pods - len(watch.bound)} backlog pods were not bound within {timeout:.0f}s")
        finally:
            cluster.stop()
    times = sorted(watch.bound.values())
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")


class _collect_less:
    """Within the block: the objects alive at its start are frozen out of collections, which run less often."""

    def __enter__(self) -> None:
        self.threshold = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)

    def __exit__(self, *exc) -> None:
        gc.set_threshold(*self.threshold)
        gc.unfreeze()


def _cpu(cluster: LocalCluster) -> dict[str, float]:
    """CPU seconds used so far by the API server, the scheduler and this process."""
    def child(proc) -> float:
        fields = open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {"apiserver": child(cluster.children[0]), "scheduler": child(cluster.children[1]),
            "bench": own.ru_utime + own.ru_stime}


def _phase(load: Creators, names: list[str], watch: BindWatch, timeout: float) -> tuple[dict, float, float]:
    """Create `names` and wait until all are bound: (send times, seconds creating, creators' CPU seconds)."""
    watch.target = len(watch.bound) + len(names)
    watch.event.clear()
    start = time.perf_counter()
    sent, cpu = load.create(names)
    created = time.perf_counter() - start
    if not watch.event.wait(timeout):
        missing = sum(1 for n in names if n not in watch.bound)
        raise TimeoutError(f"{missing} of {len(names)} pods were not bound within {timeout:.0f}s")
    return sent, created, cpu
