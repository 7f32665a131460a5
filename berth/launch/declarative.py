"""`LocalCluster`: a whole declarative control plane on this machine, for `berth up`, benchmarks and tests.

Secure from the first start, as k3s: it makes (or reuses) a CA, the API server's serving certificate and
every part's own credential in its home (`state_dir`, or a private temporary directory removed at
`stop()`; see `identities` and `pki`), writes the administrator's kubeconfig (`kubeconfig`, for kubectl)
and starts the API server as a child process (`python -m berth.declarative.apiserver`, SQLite in
`state_dir` or in memory) serving HTTPS with client certificates, bearer tokens and RBAC; `insecure=True`
serves plain HTTP with bearer tokens instead.  Once `/version` answers it starts the controller manager,
the scheduler (in this process, or as a child process with `scheduler_process=True`) and one `AgentHost`
with `nodes` agents on the chosen runtime (a name of `berth.runtime.RUNTIMES`: `process`, `container`,
`vm`, `fake`, ...), each with its own identity (process- and container-runtime agents project their pods'
ServiceAccount tokens under `<home>/pods`, as the kubelet) and its pods' emptyDir volumes under
`<home>/volumes/<node>`.  A runtime this machine lacks stops `start()` with one line naming what is missing
and the command that fixes it (`images.missing`, `vmimages.missing`); the container runtime's local registry
is started if none answers; on the vm runtime the accelerator is probed once per machine (`accel`: kvm or
tcg) and each node's runtime is wrapped in `vmpods.GuestPods` (a container's image selects its guest's boot
image).  `stop()` undoes it all in reverse order: agents terminate their processes, the children get SIGTERM
(then SIGKILL).  State in `state_dir` survives, so the next start resumes from the store with the same
credentials.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from berth.declarative.agent import AgentHost, NodeAgent, machine_capacity
from berth.declarative.controllers import ControllerManager
from berth.declarative.scheduler import Profile, Scheduler, default_profiles
from berth.launch import images, vmimages
from berth.launch.vmpods import GuestPods
from berth.launch.identities import SCHEDULER, Identities, prepare
from berth.launch.ports import free_port, port_busy
from berth.runtime import RUNTIMES, Runtime

SIMULATED = frozenset({"fake"})
"""Runtimes that run nothing on the machine: no log directory, a declared capacity."""
REGISTRY_RUNTIMES = frozenset({"container"})
"""Runtimes that pull images from the local registry."""
TOKEN_RUNTIMES = frozenset({"process", "container"})
"""Runtimes whose agents project their pods' ServiceAccount tokens."""


class RuntimeMissing(RuntimeError):
    """The chosen runtime is not set up on this machine (the message says what to run)."""


@dataclass
class LocalCluster:
    """API server + controllers + scheduler + node agents on loopback."""

    state_dir: Path | None = None
    nodes: int = 2
    port: int = 0
    runtime: str = "process"
    profiles: list[Profile] = field(default_factory=default_profiles)
    node_capacity: dict[str, str] | None = None
    node_prefix: str = "node"
    scheduler_process: bool = False
    coalesce: bool = True
    """The API server joins a connection's writes within one loop turn (`berth.web.cork`)."""
    scheduler_config: str | None = None
    controllers: bool = True
    start_scheduler: bool = True
    normal_events: bool = True
    binders: int = 8
    """Concurrent `pods/binding` requests of the scheduler."""
    agent_writers: int = 4
    """Concurrent pod status writes of the agents' host."""
    lease_interval: float = 10.0
    status_interval: float = 60.0
    node_grace: float = 40.0
    insecure: bool = False
    """Plain HTTP with bearer tokens instead of TLS (authentication and authorisation still apply)."""

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self.url = f"{'http' if self.insecure else 'https'}://127.0.0.1:{self.port}"
        self.home: Path | None = None
        """Where the PKI, tokens and kubeconfigs live: `state_dir`, or a temporary directory while running."""
        self.identities: Identities | None = None
        self._scratch: Path | None = None
        self.children: list[subprocess.Popen] = []
        self.manager: ControllerManager | None = None
        self.scheduler: Scheduler | None = None
        self.host: AgentHost | None = None
        self.accel: str | None = None
        """On the vm runtime, the accelerator its guests run on (kvm or tcg), once started."""
        if self.state_dir is not None:
            self.state_dir = Path(self.state_dir)
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new one: only its owner enters

    @property
    def kubeconfig(self) -> Path | None:
        """The administrator's kubeconfig (CA and client certificate embedded), once the cluster has a home."""
        home = self.state_dir or self.home
        return home / "kubeconfig" if home else None

    @property
    def admin(self):
        """The administrator's `Credentials` (for a `KubeClient`), once started."""
        return self.identities.admin if self.identities else None

    def _prepare(self) -> None:
        if self.state_dir is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="berth-cluster-"))  # mode 0700
        self.home = self.state_dir or self._scratch
        names = [f"{self.node_prefix}-{i}" for i in range(self.nodes)]
        self.identities = prepare(self.home, self.url, names, insecure=self.insecure)

    # ---- start -------------------------------------------------------------------------------------
    def start(self, progress=lambda step: None) -> "LocalCluster":
        if port_busy(self.port):
            raise OSError(f"port {self.port} on 127.0.0.1 is already in use")
        self._check_runtime()
        try:
            progress("API server")
            self._prepare()
            self._start_apiserver()
            if self.controllers:
                progress("controllers")
                self.manager = ControllerManager(self.url, node_grace=self.node_grace,
                                                 credentials=self.identities.controllers).start()
            if self.start_scheduler:
                progress("scheduler")
                self.launch_scheduler()
            progress(f"{self.nodes} node agent(s)")
            if self.nodes:  # none: the API server alone (and controllers or a scheduler, if asked)
                self.host = AgentHost(self.url, self._agents(), lease_interval=self.lease_interval,
                                      status_interval=self.status_interval, writers=self.agent_writers,
                                      credentials=self.identities.agents, node_tokens=self.identities.node_tokens,
                                      log_token=self.identities.kubelet_token,
                                      token_dir=self.home / "pods" if self.runtime in TOKEN_RUNTIMES else None).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _check_runtime(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {self.runtime!r}; one of {', '.join(RUNTIMES)}")
        if self.nodes and (problem := images.missing(self.runtime) or vmimages.missing(self.runtime)):
            raise RuntimeMissing(problem)
        if self.nodes and self.runtime in REGISTRY_RUNTIMES:
            images.start_registry()
        if self.nodes and self.runtime == "vm":
            self.accel = vmimages.probe()["accel"]

    def _start_apiserver(self) -> None:
        store = f"sqlite:///{self.state_dir / 'state.db'}" if self.state_dir else "memory://"
        argv = [sys.executable, "-m", "berth.declarative.apiserver", "--store", store, "--port", str(self.port)]
        argv += [] if self.coalesce else ["--no-coalesce"]
        argv += self.identities.apiserver_flags
        if self.state_dir:
            with open(self.state_dir / "apiserver.log", "ab") as log:  # closed here, never by the GC later
                self.children.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                      stdin=subprocess.DEVNULL))
        else:
            self.children.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL))
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.children[0].poll() is not None:
                raise RuntimeError(f"the API server exited with code {self.children[0].returncode}"
                                   + (f"; see {self.state_dir / 'apiserver.log'}" if self.state_dir else ""))
            try:
                verify = True if self.insecure else self.identities.admin.ssl_context()
                if httpx.get(f"{self.url}/version", timeout=1, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"the API server did not answer on {self.url} within {timeout:.0f}s")

    def launch_scheduler(self) -> None:
        """Start the scheduler (done by `start()` unless `start_scheduler=False`)."""
        if not self.scheduler_process:
            self.scheduler = Scheduler(self.url, self.profiles, normal_events=self.normal_events,
                                       binders=self.binders, credentials=self.identities.scheduler).start()
            return
        argv = [sys.executable, "-m", "berth.declarative.scheduler", "--server", self.url,
                "--kubeconfig", str(self.identities.component_kubeconfigs[SCHEDULER]), "--binders", str(self.binders)]
        if self.scheduler_config:
            argv += ["--config", self.scheduler_config]
        if not self.normal_events:
            argv.append("--no-normal-events")
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=None, stdin=subprocess.DEVNULL, text=True)
        self.children.append(child)
        if child.stdout.readline().strip() != "scheduler ready":
            raise RuntimeError("the scheduler process did not start")

    def _agents(self) -> list[NodeAgent]:
        capacity = self.node_capacity or ({"cpu": "4", "memory": "32Gi", "pods": "110"}
                                          if self.runtime in SIMULATED else machine_capacity())
        agents = []
        for i in range(self.nodes):
            name = f"{self.node_prefix}-{i}"
            volumes = self.home / "volumes" / name if self.runtime not in SIMULATED else None
            agents.append(NodeAgent(name, self._runtime(name), dict(capacity), volumes=volumes,
                                    normal_events=self.normal_events))
        return agents

    def _runtime(self, node: str) -> Runtime:
        """The node's runtime; real ones log under `<state_dir>/logs/<node>` (a temporary directory without one,
        removed when the agents stop); vm guests boot the image their container names (`GuestPods`)."""
        if self.runtime in SIMULATED:
            return RUNTIMES[self.runtime]()
        runtime = RUNTIMES[self.runtime](self.state_dir / "logs" / node if self.state_dir else None)
        return GuestPods(runtime) if self.runtime == "vm" else runtime

    # ---- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        for part in (self.host, self.scheduler, self.manager):
            if part is not None:
                part.stop()
        self.host = self.scheduler = self.manager = None
        for child in reversed(self.children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(self.children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children = []
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = self.home = None

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment for `kubectl` against this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)} if self.kubeconfig else dict(os.environ)
