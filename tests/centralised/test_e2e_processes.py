"""Acceptance, end to end with real processes: Placement, the compute API, two schedulers, a
conductor and ten compute agents (process runtime) started by `berth up`'s launcher.

Timeline: create 50 servers in ten anti-affinity groups of five; half-way through the creates,
as soon as an agent hosts a server, kill that agent's process (SIGKILL), then create the rest.
Until its service is seen down (four missed heartbeats) the dead agent still looks best to the
spreading weighers, so builds are sent to it, fail, and are rescheduled on alternates.
Throughout, a sampler reads every provider's usage from Placement and checks it never exceeds
(total - reserved) * allocation_ratio.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from berth.centralised.clients.placement import PlacementClient
from berth.launch.centralised import CentralisedPlane, PlaneSpec

SERVERS, GROUPS, AGENTS = 50, 10, 10


class UsageSampler(threading.Thread):
    """Reads every provider's usages from Placement until stopped; keeps the worst ratio seen."""

    def __init__(self, placement: PlacementClient, providers: list[str]) -> None:
        super().__init__(daemon=True)
        self.placement, self.stop = placement, threading.Event()
        self.capacity = {rp: {rc: (inv["total"] - inv["reserved"]) * inv["allocation_ratio"]
                              for rc, inv in placement.inventories(rp)["inventories"].items()} for rp in providers}
        self.samples, self.worst, self.breaches = 0, 0.0, []

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=len(self.capacity)) as pool:
            while not self.stop.wait(0.02):
                for rp, usages in zip(self.capacity, pool.map(self.placement.usages, self.capacity)):
                    self.check(rp, usages)
                self.samples += 1

    def check(self, rp: str, usages: dict) -> None:
        caps = self.capacity[rp]
        for rc, used in usages.items():
            self.worst = max(self.worst, used / caps[rc])
            if used > caps[rc]:
                self.breaches.append((rp, rc, used, caps[rc]))


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    spec = PlaneSpec(agents=AGENTS, state_dir=str(tmp_path_factory.mktemp("plane")), runtime="process",
                     schedulers=2, port=0, agent_vcpus=4, agent_ram=4096, agent_disk=20, heartbeat=10.0)
    plane = CentralisedPlane(spec).start()
    yield plane
    plane.stop()


def test_fifty_anti_affine_servers_survive_a_killed_agent(plane):
    api = httpx.Client(base_url=plane.compute_url, timeout=30, headers={"X-Auth-Token": plane.token("admin")})
    placement = PlacementClient(plane.placement_url, plane.token("service"))
    services = {s["host"]: s for s in api.get("/os-services").json()["services"]}
    assert sorted(services) == plane.agent_hosts()
    sampler = UsageSampler(placement, [s["berth:rp_uuid"] for s in services.values()])
    sampler.start()

    api.post("/flavors", json={"flavor": {"id": "m1", "name": "m1", "vcpus": 1, "ram": 512, "disk": 1}})
    groups = [api.post("/os-server-groups", json={"server_group": {"name": f"g{i}", "policy": "anti-affinity"}}
                       ).json()["server_group"]["id"] for i in range(GROUPS)]

    def create(i: int) -> str:
        body = {"server": {"name": f"vm-{i}", "flavorRef": "m1", "command": ["sleep", "120"]},
                "os:scheduler_hints": {"group": groups[i % GROUPS]}}
        return api.post("/servers", json=body).json()["server"]["id"]

    def servers() -> list[dict]:
        return api.get("/servers/detail").json()["servers"]

    ids = [create(i) for i in range(SERVERS // 2)]
    first = wait_until(lambda: [s for s in servers() if s["status"] == "ACTIVE"], 120, "no server became ACTIVE")
    victim = first[0]["OS-EXT-SRV-ATTR:host"]
    plane.kill_agent(victim)
    ids += [create(i) for i in range(SERVERS // 2, SERVERS)]
    final = wait_until(lambda: (lambda all_: all(s["status"] != "BUILD" for s in all_) and all_)(servers()),
                       240, "builds did not finish")
    sampler.stop.set()
    sampler.join(timeout=30)

    by_id = {s["id"]: s for s in final}
    assert sorted(by_id) == sorted(ids)
    assert [s["name"] for s in final if s["status"] != "ACTIVE"] == []
    rescheduled = [s for s in final if victim in s["berth:tried_hosts"] and s["OS-EXT-SRV-ATTR:host"] != victim]
    assert rescheduled, "no build was sent to the killed agent and rescheduled"
    members: dict[str, list[str]] = defaultdict(list)
    for s in final:
        members[s["server_groups"][0]].append(s["OS-EXT-SRV-ATTR:host"])
    assert all(len(set(hosts)) == len(hosts) == SERVERS // GROUPS for hosts in members.values())

    assert sampler.breaches == [] and sampler.samples > 10
    per_host: dict[str, int] = defaultdict(int)
    for s in final:
        per_host[s["OS-EXT-SRV-ATTR:host"]] += 1
    for host, svc in services.items():
        assert placement.usages(svc["berth:rp_uuid"]).get("MEMORY_MB", 0) == 512 * per_host[host], host
    stranded = [s["id"] for s in final if s["OS-EXT-SRV-ATTR:host"] == victim]
    assert stranded, "the killed agent hosted the first ACTIVE server"
    wait_until(lambda: all(api.get(f"/servers/{sid}").json()["server"]["host_status"] == "DOWN" for sid in stranded),
               120, "servers on the killed agent never showed host_status DOWN")
    print(f"\nkilled {victim}; {len(rescheduled)} builds rescheduled off it; "
          f"{sampler.samples} usage samples, worst usage/capacity {sampler.worst:.2f}; per host {dict(per_host)}")
