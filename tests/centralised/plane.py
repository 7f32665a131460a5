"""An in-process centralised plane for tests: Placement and agents on loopback sockets, the
compute database, schedulers and a conductor driven by the test itself (no background loops).

`InProcessPlane.drive()` polls the conductor until no work is left, so tests read as
timelines: create, drive, look.  Every service checks tokens as the launched plane's do
(`tests.centralised.creds`): `api` is the admin's client, `member` the demo member's; the
services call each other with the service token, the conductor calls agents with its own.
"""

from __future__ import annotations

import contextlib
import time

import httpx

from berth.centralised.agent.app import create_app as agent_app
from berth.centralised.agent.inventory import HostResources
from berth.centralised.agent.service import ComputeAgent
from berth.centralised.clients.placement import PlacementClient
from berth.centralised.compute.api import create_app as compute_app
from berth.centralised.compute.db import Repo
from berth.centralised.conductor.clients import AgentClient, LocalScheduler
from berth.centralised.conductor.service import Conductor
from berth.centralised.placement.service import PlacementService
from berth.centralised.scheduler.manager import Scheduler, repo_hosts
from berth.centralised.scheduler.select import SchedulerConfig
from berth.runtime import FakeRuntime, SystemClock
from tests.centralised.creds import ADMIN, AGENT_TOKENS, CONDUCTOR, CONSOLE_TOKENS, MEMBER, SERVICE, TOKENS
from tests.centralised.servers import free_port, serve


class InProcessPlane:
    def __init__(self, stack: contextlib.ExitStack, hosts: int = 3, vcpus: int = 4, ram: int = 4096,
                 config: SchedulerConfig | None = None, seed: int = 1, runtime=FakeRuntime) -> None:
        self.stack, self.clock, self.runtime = stack, SystemClock(), runtime
        self.placement_url = stack.enter_context(serve(PlacementService("sqlite://", auth=TOKENS).app))
        self.repo = Repo()
        app = compute_app(self.repo, self.clock, tokens=TOKENS, agent_token=SERVICE)
        self.compute_url = stack.enter_context(serve(app))
        self.api = httpx.Client(base_url=self.compute_url, timeout=30, headers={"X-Auth-Token": ADMIN})
        self.member = httpx.Client(base_url=self.compute_url, timeout=30, headers={"X-Auth-Token": MEMBER})
        self.placement = PlacementClient(self.placement_url, SERVICE)
        self.agents: dict[str, ComputeAgent] = {}
        self.stops: dict[str, contextlib.ExitStack] = {}
        for i in range(hosts):
            self.add_agent(f"h{i}", HostResources(vcpus, ram))
        self.scheduler = Scheduler(self.placement, repo_hosts(self.repo, self.clock, 60), config, seed=seed)
        self.conductor = Conductor(self.repo, self.placement, LocalScheduler(self.scheduler), self.clock,
                                   agents=AgentClient(CONDUCTOR))
        stack.callback(self.conductor.close)
        self.api.post("/flavors", json={"flavor": {"id": "small", "name": "small", "vcpus": 1, "ram": 512}})

    def add_agent(self, host: str, resources: HostResources, zone: str = "nova") -> ComputeAgent:
        port = free_port()
        agent = ComputeAgent(host, f"http://127.0.0.1:{port}", resources, self.runtime(clock=self.clock),
                             PlacementClient(self.placement_url, SERVICE),
                             httpx.Client(base_url=self.compute_url, headers={"X-Auth-Token": SERVICE}), zone)
        own = contextlib.ExitStack()
        own.enter_context(serve(agent_app(agent, tokens=AGENT_TOKENS, console_tokens=CONSOLE_TOKENS), port))
        self.stack.callback(own.close)
        self.stack.callback(agent.close)
        agent.register()
        self.agents[host], self.stops[host] = agent, own
        return agent

    def stop_agent(self, host: str) -> None:
        """The agent's HTTP server goes away; its service row and provider stay (a crash)."""
        self.stops[host].close()

    def group(self, policy: str) -> str:
        return self.api.post("/os-server-groups", json={"server_group": {"name": policy, "policy": policy}}
                             ).json()["server_group"]["id"]

    def create(self, name: str, group: str | None = None, flavor: str = "small") -> str:
        body = {"server": {"name": name, "flavorRef": flavor}}
        if group:
            body["os:scheduler_hints"] = {"group": group}
        resp = self.api.post("/servers", json=body)
        assert resp.status_code == 202, resp.text
        return resp.json()["server"]["id"]

    def drive(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.conductor.poll()
            if self.conductor.idle() and not self.repo.pending(self.clock.now()):
                return
            time.sleep(0.02)
        raise TimeoutError("conductor still busy")

    def servers(self) -> dict[str, dict]:
        return {s["id"]: s for s in self.api.get("/servers/detail").json()["servers"]}

    def usages(self) -> dict[str, dict]:
        return {h: self.placement.usages(a.rp_uuid) for h, a in self.agents.items()}
