"""The compute workflow end to end in one process: API -> conductor -> scheduler -> Placement
claim -> agent, with Placement and the agents on real loopback sockets (fake runtime)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter

import pytest

from berth.centralised.agent.inventory import HostResources
from berth.centralised.conductor.clients import AgentClient
from berth.centralised.scheduler.manager import Scheduler, repo_hosts
from berth.centralised.scheduler.request import RequestSpec
from tests.centralised.creds import CONDUCTOR, SERVICE
from tests.centralised.plane import InProcessPlane


@pytest.fixture
def plane():
    with contextlib.ExitStack() as stack:
        yield InProcessPlane(stack)


def test_anti_affinity_spreads_then_says_no_valid_host_with_reasons(plane):
    gid = plane.group("anti-affinity")
    ids = [plane.create(f"s{i}", gid) for i in range(4)]
    plane.drive()
    servers = plane.servers()
    active = [servers[i] for i in ids if servers[i]["status"] == "ACTIVE"]
    assert sorted(s["OS-EXT-SRV-ATTR:host"] for s in active) == ["h0", "h1", "h2"]
    [failed] = [servers[i] for i in ids if servers[i]["status"] == "ERROR"]
    assert failed["fault"]["message"] == (
        "NoValidHost: No valid host was found. Filtering removed all hosts for the request: 0/3 hosts are "
        "available: 3 host(s) didn't match server group anti-affinity rules.")
    assert failed["fault"]["details"]["reasons"] == {"host(s) didn't match server group anti-affinity rules": 3}
    assert plane.placement.allocations(failed["id"])["allocations"] == {}
    assert all(u == {"VCPU": 1, "MEMORY_MB": 512} for u in plane.usages().values())


def test_affinity_keeps_the_group_on_one_host(plane):
    gid = plane.group("affinity")
    for i in range(4):
        plane.create(f"a{i}", gid)
        plane.drive()
    servers = plane.servers().values()
    assert [s.get("fault") for s in servers if s["status"] != "ACTIVE"] == []
    assert len({s["OS-EXT-SRV-ATTR:host"] for s in servers}) == 1


def test_a_dead_agent_is_rescheduled_on_an_alternate_and_its_claim_rolled_back(plane):
    plane.stop_agent("h0")
    sid = plane.create("lucky")
    plane.drive()
    server = plane.servers()[sid]
    assert server["status"] == "ACTIVE" and server["OS-EXT-SRV-ATTR:host"] != "h0"
    assert server["berth:tried_hosts"][0] == "h0" and server["berth:attempts"] == 2
    usages = plane.usages()
    assert usages["h0"] == {"VCPU": 0, "MEMORY_MB": 0}
    assert usages[server["OS-EXT-SRV-ATTR:host"]] == {"VCPU": 1, "MEMORY_MB": 512}
    assert plane.conductor.stats["failed_attempts"] == 1


def test_when_every_attempt_fails_the_build_errors_with_max_retries(plane):
    for host in ("h0", "h1", "h2"):
        plane.stop_agent(host)
    sid = plane.create("doomed")
    plane.drive()
    server = plane.servers()[sid]
    assert server["status"] == "ERROR"
    assert server["fault"]["message"].startswith("MaxRetriesExceeded: Exceeded maximum number of retries.")
    assert [a["host"] for a in server["fault"]["details"]["attempts"]] == server["berth:tried_hosts"]
    assert len(server["berth:tried_hosts"]) == 3
    assert all(u == {"VCPU": 0, "MEMORY_MB": 0} for u in plane.usages().values())


def test_delete_stops_the_server_and_frees_placement(plane):
    sid = plane.create("short-lived")
    plane.drive()
    host = plane.servers()[sid]["OS-EXT-SRV-ATTR:host"]
    assert sid in plane.agents[host].runtime.names()
    assert plane.api.delete(f"/servers/{sid}").status_code == 204
    plane.drive()
    assert sid not in plane.servers() and sid not in plane.agents[host].runtime.names()
    assert plane.usages()[host] == {"VCPU": 0, "MEMORY_MB": 0}


def test_capacity_shortage_reads_as_no_allocation_candidates(plane):
    plane.api.post("/flavors", json={"flavor": {"id": "huge", "name": "huge", "vcpus": 1, "ram": 8192}})
    sid = plane.create("too-big", flavor="huge")
    plane.drive()
    fault = plane.servers()[sid]["fault"]
    assert "Got no allocation candidates from the Placement API" in fault["message"]


def test_racing_schedulers_never_overcommit_a_provider():
    """Six schedulers claim at once on three small hosts: Placement admits exactly what fits."""
    with contextlib.ExitStack() as stack:
        plane = InProcessPlane(stack, hosts=0)
        for i in range(3):
            plane.add_agent(f"r{i}", HostResources(1, 512 + 4 * 512, cpu_allocation_ratio=4.0))
        schedulers = [Scheduler(plane.placement, repo_hosts(plane.repo, plane.clock, 60), seed=s) for s in range(6)]
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()

        def run(s: Scheduler, k: int) -> None:
            for j in range(5):
                spec = RequestSpec(f"00000000-0000-4000-8000-{k:06d}{j:06d}", "p", "u", {"VCPU": 1, "MEMORY_MB": 512})
                result = s.select_destinations(spec)
                with lock:
                    outcomes["placed" if result.ok else "refused"] += 1

        threads = [threading.Thread(target=run, args=(s, k)) for k, s in enumerate(schedulers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert outcomes == {"placed": 12, "refused": 18}
        for host, agent in plane.agents.items():
            assert plane.placement.usages(agent.rp_uuid) == {"VCPU": 4, "MEMORY_MB": 2048}, host


def test_zone_requests_land_in_the_zone_through_the_placement_aggregate(plane):
    plane.add_agent("far", HostResources(2, 2048), zone="az2")
    sid = plane.api.post("/servers", json={"server": {"name": "zoned", "flavorRef": "small",
                                                      "availability_zone": "az2"}}).json()["server"]["id"]
    plane.drive()
    assert plane.servers()[sid]["OS-EXT-SRV-ATTR:host"] == "far"


def test_a_disabled_service_gets_the_trait_and_no_new_servers(plane):
    for host in ("h1", "h2"):
        plane.api.put(f"/os-services/{host}", json={"status": "disabled"})
        plane.agents[host].heartbeat()
        assert "COMPUTE_STATUS_DISABLED" in plane.placement.traits(plane.agents[host].rp_uuid)
    ids = [plane.create(f"d{i}") for i in range(3)]
    plane.drive()
    assert {plane.servers()[i]["OS-EXT-SRV-ATTR:host"] for i in ids} == {"h0"}
    plane.api.put("/os-services/h1", json={"status": "enabled"})
    plane.agents["h1"].heartbeat()
    assert "COMPUTE_STATUS_DISABLED" not in plane.placement.traits(plane.agents["h1"].rp_uuid)


def test_soft_anti_affinity_spreads_but_still_places_when_hosts_run_out(plane):
    gid = plane.group("soft-anti-affinity")
    for i in range(5):
        plane.create(f"soft{i}", gid)
        plane.drive()
    hosts = Counter(s["OS-EXT-SRV-ATTR:host"] for s in plane.servers().values())
    assert sum(hosts.values()) == 5 and sorted(hosts.values()) == [1, 2, 2]


def test_a_build_left_by_a_dead_conductor_is_resumed_once_its_lease_expires(plane):
    from berth.centralised.conductor.clients import LocalScheduler
    from berth.centralised.conductor.service import Conductor
    from berth.runtime import ManualClock

    sid = plane.create("orphan")
    row = plane.repo.server(sid)
    now = plane.clock.now()
    half_done = plane.repo.update_server(row, {"lease_owner": "conductor-dead", "lease_until": now + 60,
                                               "host": "h1", "node": plane.agents["h1"].rp_uuid})
    claim = plane.placement.claim(sid, {plane.agents["h1"].rp_uuid: {"resources": {"VCPU": 1, "MEMORY_MB": 512}}},
                                  "admin", "admin")
    assert half_done and claim.ok
    assert plane.conductor.poll() == 0
    later = Conductor(plane.repo, plane.placement, LocalScheduler(plane.scheduler), ManualClock(now + 61),
                      agents=AgentClient(CONDUCTOR))
    try:
        assert later.poll() == 1
        while not later.idle():
            time.sleep(0.01)
    finally:
        later.close()
    server = plane.servers()[sid]
    assert server["status"] == "ACTIVE"
    usages = plane.usages()
    assert sum(u["VCPU"] for u in usages.values()) == 1
    assert usages[server["OS-EXT-SRV-ATTR:host"]] == {"VCPU": 1, "MEMORY_MB": 512}


def test_a_server_deleted_before_its_build_runs_leaves_nothing_behind(plane):
    sid = plane.create("never-mind")
    assert plane.api.delete(f"/servers/{sid}").status_code == 204
    plane.drive()
    assert sid not in plane.servers()
    assert plane.placement.allocations(sid)["allocations"] == {}
    assert all(sid not in a.runtime.names() for a in plane.agents.values())


def test_a_second_claim_by_the_same_consumer_is_refused_not_doubled(plane):
    rp = plane.agents["h0"].rp_uuid
    request = {rp: {"resources": {"VCPU": 1, "MEMORY_MB": 512}}}
    consumer = "3a0cbe6e-2b0b-4e5f-9d3e-5b2f4b8e0c11"
    assert plane.placement.claim(consumer, request, "p", "u").ok
    again = plane.placement.claim(consumer, request, "p", "u")
    assert not again.ok and again.code == "placement.concurrent_update"
    assert plane.placement.usages(rp) == {"VCPU": 1, "MEMORY_MB": 512}
    assert plane.placement.delete_allocations(consumer)
    assert plane.placement.claim(consumer, request, "p", "u").ok


def test_a_scheduler_outage_keeps_the_build_leased_and_it_resumes_later(plane):
    from berth.centralised.conductor.clients import HttpScheduler, LocalScheduler
    from berth.centralised.conductor.service import Conductor
    from berth.runtime import ManualClock
    from tests.centralised.servers import free_port

    clock = ManualClock(plane.clock.now())
    down = Conductor(plane.repo, plane.placement, HttpScheduler([f"http://127.0.0.1:{free_port()}"], SERVICE), clock,
                     agents=AgentClient(CONDUCTOR))
    sid = plane.create("patient")
    try:
        assert down.poll() == 1
        while not down.idle():
            time.sleep(0.01)
        assert down.poll() == 0
    finally:
        down.close()
    assert plane.servers()[sid]["status"] == "BUILD"
    assert plane.repo.pending(plane.clock.now()) == []
    up = Conductor(plane.repo, plane.placement, LocalScheduler(plane.scheduler), ManualClock(clock.now() + 61),
                   agents=AgentClient(CONDUCTOR))
    try:
        assert up.poll() == 1
        while not up.idle():
            time.sleep(0.01)
    finally:
        up.close()
    assert plane.servers()[sid]["status"] == "ACTIVE"


def test_servers_are_real_processes_and_a_command_that_cannot_start_fails_every_host():
    from berth.runtime import ProcessRuntime

    with contextlib.ExitStack() as stack:
        plane = InProcessPlane(stack, hosts=2, runtime=ProcessRuntime)
        good = plane.api.post("/servers", json={"server": {"name": "sleeper", "flavorRef": "small",
                                                           "command": ["sleep", "30"]}}).json()["server"]["id"]
        bad = plane.api.post("/servers", json={"server": {"name": "typo", "flavorRef": "small",
                                                          "command": ["/nonexistent/berth-binary"]}}).json()["server"]["id"]
        plane.drive()
        servers = plane.servers()
        host = servers[good]["OS-EXT-SRV-ATTR:host"]
        unit = plane.agents[host].runtime.status(good)
        assert servers[good]["status"] == "ACTIVE" and unit.state.value == "running" and unit.pid > 0
        failure = servers[bad]["fault"]
        assert failure["message"].startswith("MaxRetriesExceeded")
        assert sorted(a["host"] for a in failure["details"]["attempts"]) == ["h0", "h1"]
        assert all("refused the build: 409" in a["reason"] for a in failure["details"]["attempts"])
        plane.api.delete(f"/servers/{good}")
        plane.drive()
        assert plane.agents[host].runtime.status(good) is None
        assert all(u == {"VCPU": 0, "MEMORY_MB": 0} for u in plane.usages().values())
