"""`berth bench runtime`: create-to-running latency of pods on a real runtime, berth beside the bare engine.

Both sides start `pods` pods of the seeded busybox running `sleep`, all at once, in the same run:

- **bare engine**: the podman commands berth's container runtime issues for one pod (`podman pod create`,
  `pod start`, `podman run -d --pod`: `berth.runtime.podman`), one shell chain per pod, all launched
  together; a pod's latency runs from its launch to the chain's return (`podman run -d` returns once the
  container runs).
- **berth**: a `LocalCluster` with `agents` node agents on the container runtime; each pod is POSTed to
  the API server (8 at a time) and its latency runs from its POST to the first poll of the pod list (every
  50 ms) that sees it Running -- scheduling, the agent's start, the engine and the status write included.

Reported per side: p50, p99 and max latency and the wall time, and berth's overhead over the bare engine at
p50 ((berth - bare) / bare).  `--runtime vm` (servers as QEMU guests through the centralised plane, beside
bare QEMU) is `berth.sim.vmbench`.  Called by the CLI (`berth/cli/bench_runtime.py`).
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from berth.declarative.client import KubeClient
from berth.launch import images
from berth.launch.declarative import LocalCluster
from berth.runtime import UnitSpec, podman

IMAGE = "busybox"
COMMAND = ("sleep", "3600")
TIMEOUT = 300.0


@dataclass
class Side:
    """One side's latencies (seconds, create to running) and wall time."""

    name: str
    latencies: list[float]
    wall_s: float
    failed: int = 0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    def summary(self) -> dict:
        return {"name": self.name, "pods": len(self.latencies), "failed": self.failed,
                "p50_s": round(self.percentile(0.5), 3), "p99_s": round(self.percentile(0.99), 3),
                "max_s": round(max(self.latencies, default=float("nan")), 3), "wall_s": round(self.wall_s, 3)}


@dataclass
class RuntimeBench:
    runtime: str
    pods: int
    agents: int
    bare: Side
    berth: Side

    @property
    def overhead_p50(self) -> float:
        bare = self.bare.percentile(0.5)
        return (self.berth.percentile(0.5) - bare) / bare

    def as_dict(self) -> dict:
        return {"runtime": self.runtime, "pods": self.pods, "agents": self.agents, "bare": self.bare.summary(),
                "berth": self.berth.summary(), "overhead_p50": round(self.overhead_p50, 3)}


def bench_runtime(runtime: str = "container", pods: int = 50, agents: int = 2, progress=lambda step: None) -> RuntimeBench:
    """Run both sides (the bare engine first) and return their latencies."""
    if runtime == "vm":
        from berth.sim.vmbench import bench_vm
        return bench_vm(pods, agents, progress)
    if runtime != "container":
        raise ValueError(f"the runtime benchmark measures the container and vm runtimes; {runtime!r} is not one")
    if problem := images.missing(runtime):
        raise RuntimeError(problem)
    images.start_registry()
    images.seed()
    env = podman_env()
    subprocess.run(["podman", "pull", "--quiet", IMAGE], env=env, capture_output=True, check=True)
    progress(f"bare podman: {pods} pods")
    bare = bare_engine(pods, env)
    progress(f"berth: {pods} pods on {agents} agents")
    return RuntimeBench(runtime, pods, agents, bare, through_berth(pods, agents))


def podman_env() -> dict[str, str]:
    return os.environ | podman.engine_env()


def _chain(index: int, run_id: str, logs: Path) -> list[str]:
    """The commands berth's runtime issues for one pod of one container, as one shell chain."""
    pod = f"bench-{run_id}-{index}"
    spec = UnitSpec(f"bench/{pod}/c", COMMAND, image=IMAGE, group=pod)
    argvs = podman.pod_argvs(pod, run_id) + [podman.run_argv(spec, f"{pod}-c", run_id, logs / f"{pod}.log", pod)]
    return ["/bin/sh", "-c", " && ".join(" ".join(map(shlex.quote, argv)) + " >/dev/null" for argv in argvs)]


def bare_engine(count: int, env: dict[str, str]) -> Side:
    run_id = secrets.token_hex(4)
    with tempfile.TemporaryDirectory(prefix="berth-bench-runtime-") as tmp:
        began = time.monotonic()
        children = {i: (time.monotonic(), subprocess.Popen(_chain(i, run_id, Path(tmp)), env=env,
                                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.DEVNULL)) for i in range(count)}
        latencies, failed = [], 0
        while children:
            for i, (start, child) in list(children.items()):
                if child.poll() is not None:
                    del children[i]
                    if child.returncode == 0:
                        latencies.append(time.monotonic() - start)
                    else:
                        failed += 1
            time.sleep(0.01)
        wall = time.monotonic() - began
        _remove_pods(run_id, env)
    return Side("podman", latencies, wall, failed)


def _remove_pods(run_id: str, env: dict[str, str]) -> None:
    label = f"label={podman.LABEL_RUNTIME}={run_id}"
    ids = subprocess.run(["podman", "pod", "ps", "-q", "--filter", label], env=env, capture_output=True,
                         text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "pod", "rm", "--force", "--time=0", *ids], env=env, capture_output=True)


def _pod(name: str) -> dict:
    return {"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 0, "containers": [
        {"name": "c", "image": IMAGE, "command": list(COMMAND)}]}}


def through_berth(count: int, agents: int) -> Side:
    with tempfile.TemporaryDirectory(prefix="berth-bench-runtime-") as tmp, \
            LocalCluster(state_dir=Path(tmp) / "state", nodes=agents, runtime="container") as cluster:
        client = KubeClient(cluster.url, credentials=cluster.admin)
        deadline = time.monotonic() + 30
        while not client.list("serviceaccounts", "default")["items"] and time.monotonic() < deadline:
            time.sleep(0.1)
        created: dict[str, float] = {}

        def create(i: int) -> None:
            created[f"bench-{i}"] = time.monotonic()
            client.create("pods", _pod(f"bench-{i}"), "default")

        began = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(count)))
        latencies = _watch_running(client, created, began + TIMEOUT)
        wall = time.monotonic() - began
        client.close()
    return Side("berth", latencies, wall, count - len(latencies))


def _watch_running(client: KubeClient, created: dict[str, float], deadline: float) -> list[float]:
    """Each pod's latency from its POST to the first poll that sees it Running."""
    running: dict[str, float] = {}
    while len(running) < len(created) and time.monotonic() < deadline:
        now = time.monotonic()
        for pod in client.list("pods", "default")["items"]:
            name = pod["metadata"]["name"]
            if name not in running and (pod.get("status") or {}).get("phase") == "Running":
                running[name] = now - created[name]
        time.sleep(0.05)
    return list(running.values())
