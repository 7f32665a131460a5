"""`CentralisedPlane`: Placement, the compute API, schedulers, a conductor and N agents on this machine.

`CentralisedPlane(spec).start()` launches each service as its own process on 127.0.0.1 with
SQLite databases in the state directory (logs under `logs/`, credentials under `secrets/`:
`berth.centralised.tokens.generate` makes a service, a conductor, an admin and a member token,
kept across restarts, and each process is given only the files it needs, by path, never a
token on a command line), waits until each answers and
every agent has registered, and `stop()` ends them (SIGTERM, then SIGKILL).  `steps()` lists
the start-up as labelled actions, so a caller can show progress.  Called by `berth up --plane
centralised` (`berth.cli.up`, which prints), and by the end-to-end tests, which drive the plane
directly (and kill agents with `kill_agent`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from berth.centralised.tokens import HEADER, Credentials, generate, read_token
from berth.launch.ports import free_port
from berth.model import ValidationError

READY_TIMEOUT = 60.0
PLACEMENT_MODULE = "berth.centralised.placement"


@dataclass(frozen=True)
class PlaneSpec:
    agents: int = 3
    state_dir: str | None = None
    runtime: str = "process"
    schedulers: int = 1
    port: int = 8770
    """First port: Placement on it, the compute API on +1, schedulers from +2, agents from +20; 0 = any free ports."""
    agent_vcpus: int = 8
    agent_ram: int = 16384
    agent_disk: int = 100
    heartbeat: float = 5.0
    host_subset_size: int = 1
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.agents <= 200:
            raise ValidationError("agents", f"must be between 1 and 200, got {self.agents}")
        if not 1 <= self.schedulers <= 8:
            raise ValidationError("schedulers", f"must be between 1 and 8, got {self.schedulers}")
        if self.runtime not in ("process", "fake", "vm"):
            raise ValidationError("runtime", f"must be process, fake or vm, got {self.runtime!r}")
        if self.port and not 1024 <= self.port <= 65000 - 20 - self.agents:
            raise ValidationError("port", f"must leave room for {self.agents + 20} ports above it, got {self.port}")


@dataclass
class Child:
    name: str
    url: str
    popen: subprocess.Popen
    health: str = "/"


@dataclass
class CentralisedPlane:
    spec: PlaneSpec
    children: dict[str, Child] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dir = Path(self.spec.state_dir or tempfile.mkdtemp(prefix="berth-centralised-"))
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.credentials: Credentials = generate(self.dir / "secrets")
        self._next = self.spec.port

    # ---- addresses -----------------------------------------------------------------------
    def _port(self, offset: int) -> int:
        return self.spec.port + offset if self.spec.port else free_port()

    def db(self, name: str) -> str:
        return f"sqlite:///{self.dir / name}.db"

    @property
    def placement_url(self) -> str:
        return self.children["placement"].url

    @property
    def compute_url(self) -> str:
        return self.children["compute"].url

    def token(self, name: str) -> str:
        """One of the plane's tokens (service, conductor, admin, member), read from its file."""
        return read_token(self.credentials.token(name))

    def agent_hosts(self) -> list[str]:
        return [n for n in self.children if n.startswith("cmp-")]

    # ---- lifecycle -----------------------------------------------------------------------
    def steps(self) -> list[tuple[str, callable]]:
        """What `start` does, in order, as (label, action) pairs (for progress bars)."""
        s = self.spec
        out = [("VM image and accelerator", self._prepare_vm)] if s.runtime == "vm" else []
        out += [("placement", self._start_placement), ("compute API", self._start_compute)]
        out += [(f"scheduler {i}", lambda i=i: self._start_scheduler(i)) for i in range(s.schedulers)]
        out += [("conductor", self._start_conductor)]
        out += [(f"agent {i}", lambda i=i: self._start_agent(i)) for i in range(s.agents)]
        out += [("agents registered", self.wait_registered)]
        return out

    def start(self) -> "CentralisedPlane":
        try:
            for _label, step in self.steps():
                step()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare_vm(self) -> None:
        """The vm runtime needs QEMU and the boot image (one line saying what is missing otherwise) and
        the machine's accelerator, probed once and cached: `accel` says which one the guests run on."""
        from berth.launch import vmimages

        problem = vmimages.missing("vm")
        if problem:
            raise ValidationError("runtime", problem)
        self.accel = vmimages.probe()["accel"]

    def _spawn(self, name: str, module: str, args: list[str], url: str, health: str) -> Child:
        log = open(self.dir / "logs" / f"{name}.log", "ab")
        popen = subprocess.Popen([sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        child = self.children[name] = Child(name, url, popen, health)
        return child

    def _start_placement(self) -> None:
        port = self._port(0)
        self._wait(self._spawn("placement", PLACEMENT_MODULE, ["--db", self.db("placement"), "--port", str(port),
                                                               "--token-file", str(self.credentials.tokens)],
                               f"http://127.0.0.1:{port}", "/"))

    def _start_compute(self) -> None:
        port = self._port(1)
        self._wait(self._spawn("compute", "berth.centralised.compute",
                               ["--db", self.db("compute"), "--port", str(port),
                                "--service-down-time", str(self.spec.heartbeat * 4),
                                "--token-file", str(self.credentials.tokens),
                                "--service-token-file", str(self.credentials.token("service"))],
                               f"http://127.0.0.1:{port}", "/"))

    def _start_scheduler(self, i: int) -> None:
        port = self._port(2 + i)
        s = self.spec
        self._wait(self._spawn(f"scheduler-{i}", "berth.centralised.scheduler",
                               ["--db", self.db("compute"), "--placement", self.placement_url, "--port", str(port),
                                "--host-subset-size", str(s.host_subset_size), "--max-attempts", str(s.max_attempts),
                                "--service-down-time", str(s.heartbeat * 4),
                                "--token-file", str(self.credentials.tokens),
                                "--service-token-file", str(self.credentials.token("service"))],
                               f"http://127.0.0.1:{port}", "/healthz"))

    def _start_conductor(self) -> None:
        args = ["--db", self.db("compute"), "--placement", self.placement_url,
                "--service-token-file", str(self.credentials.token("service")),
                "--agent-token-file", str(self.credentials.token("conductor"))]
        for name, child in self.children.items():
            if name.startswith("scheduler-"):
                args += ["--scheduler", child.url]
        self._spawn("conductor", "berth.centralised.conductor", args, "", "")

    def _start_agent(self, i: int) -> None:
        port, s = self._port(20 + i), self.spec
        host = f"cmp-{i:03d}"
        self._spawn(host, "berth.centralised.agent",
                    ["--host", host, "--port", str(port), "--placement", self.placement_url,
                     "--compute", self.compute_url, "--runtime", s.runtime, "--vcpus", str(s.agent_vcpus),
                     "--ram", str(s.agent_ram), "--disk", str(s.agent_disk), "--heartbeat", str(s.heartbeat),
                     "--token-file", str(self.credentials.agent_tokens),
                     "--service-token-file", str(self.credentials.token("service"))],
                    f"http://127.0.0.1:{port}", "/healthz")

    def _wait(self, child: Child, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.popen.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.popen.returncode}; see "
                                   f"{self.dir / 'logs' / (child.name + '.log')}")
            try:
                if httpx.get(child.url + child.health, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{child.name} did not answer at {child.url} within {timeout:.0f}s")

    def wait_registered(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every agent process has reported itself to the compute API."""
        want = set(self.agent_hosts())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for host in want:
                if self.children[host].popen.poll() is not None:
                    raise RuntimeError(f"agent {host} exited; see {self.dir / 'logs' / (host + '.log')}")
            listing = httpx.get(self.compute_url + "/os-services", headers={HEADER: self.token("admin")}, timeout=5)
            got = {s["host"] for s in listing.json()["services"]}
            if want <= got:
                return
            time.sleep(0.2)
        raise RuntimeError(f"agents never registered: {sorted(want - got)}")

    def kill_agent(self, host: str) -> int:
        """SIGKILL one agent's process (a crashed compute host); returns its pid."""
        popen = self.children[host].popen
        popen.kill()
        popen.wait(timeout=10)
        return popen.pid

    def stop(self) -> None:
        """SIGTERM every child (agents first, Placement last), then SIGKILL stragglers."""
        order = list(reversed(self.children.values()))
        for child in order:
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in order:
            try:
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(timeout=5)

    def runtime_note(self) -> str:
        """The agents' runtime, and for vm the accelerator its guests run on (kvm or tcg)."""
        accel = getattr(self, "accel", None)
        return f"{self.spec.runtime} (QEMU, {accel})" if accel else self.spec.runtime

    def endpoints(self) -> dict[str, str]:
        return {name: child.url for name, child in self.children.items() if child.url}

