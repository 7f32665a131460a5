"""The power state a compute agent reports: the compute API makes a stopped server SHUTOFF (and a
running one ACTIVE again), only for a server on the reporting host with no task under way, and
answers which reports it has settled; the agent re-sends the rest on its next sync.  In process,
with no QEMU: the agent drives the fake runtime and reports through the compute API's ASGI app.
"""

from __future__ import annotations

import asyncio

import httpx

from berth.centralised.agent.inventory import HostResources
from berth.centralised.agent.service import ComputeAgent
from berth.centralised.compute.api import create_app
from berth.centralised.compute.db import Repo
from berth.runtime import FakeRuntime, ManualClock, UnitState
from tests.centralised.creds import ADMIN, MEMBER, SERVICE

RP = "6f1c1b8e-5a3e-4d2b-9a53-0c6b8f6d2a11"


def call(app, method: str, path: str, token: str = ADMIN, **kw) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://compute",
                                     headers={"X-Auth-Token": token}) as c:
            return await c.request(method, path, **kw)
    return asyncio.run(go())


def world():
    from tests.centralised.creds import TOKENS
    repo, clock = Repo(), ManualClock()
    app = create_app(repo, clock, notify=lambda _id: None, service_down_time=60, tokens=TOKENS)
    call(app, "POST", "/flavors", json={"flavor": {"id": "s", "name": "s", "vcpus": 1, "ram": 256}})
    ident = call(app, "POST", "/servers", json={"server": {"name": "g", "flavorRef": "s"}}).json()["server"]["id"]
    return app, repo, ident


def placed(repo: Repo, ident: str, **changes) -> None:
    repo.update_server(repo.server(ident), {"host": "h1", **changes})


def report(app, servers: dict, host: str = "h1", token: str = SERVICE) -> httpx.Response:
    return call(app, "POST", f"/os-services/{host}/power-states", token, json={"servers": servers})


def test_a_stopped_server_shows_shutoff_and_a_running_one_active():
    app, repo, ident = world()
    placed(repo, ident, status="ACTIVE", task_state=None)
    assert report(app, {ident: "shutdown"}).json() == {"settled": [ident]}
    assert call(app, "GET", f"/servers/{ident}").json()["server"]["status"] == "SHUTOFF"
    assert report(app, {ident: "crashed"}).json() == {"settled": [ident]}
    assert report(app, {ident: "running"}).json() == {"settled": [ident]}
    assert repo.server(ident)["status"] == "ACTIVE"


def test_a_build_under_way_is_not_settled_and_another_host_changes_nothing():
    app, repo, ident = world()
    placed(repo, ident)
    assert report(app, {ident: "shutdown"}).json() == {"settled": []}, "BUILD: the agent reports again"
    assert repo.server(ident)["status"] == "BUILD"
    placed(repo, ident, status="ACTIVE", task_state=None)
    assert report(app, {ident: "shutdown"}, host="h2").json() == {"settled": [ident]}
    assert repo.server(ident)["status"] == "ACTIVE", "a report from a host the server is not on"
    assert report(app, {"gone": "shutdown"}).json() == {"settled": ["gone"]}


def test_only_services_report_and_bad_states_are_refused():
    app, repo, ident = world()
    placed(repo, ident, status="ACTIVE", task_state=None)
    assert report(app, {ident: "shutdown"}, token=MEMBER).status_code == 403
    assert report(app, {ident: "asleep"}).status_code == 400
    assert repo.server(ident)["status"] == "ACTIVE"


class AppClient:
    """What the agent's `compute` client does, over the compute API's ASGI app."""

    def __init__(self, app) -> None:
        self.app, self.posts = app, 0

    def post(self, path: str, json: dict) -> httpx.Response:
        self.posts += 1
        return call(self.app, "POST", path, SERVICE, json=json)


def test_the_agent_reports_until_settled_and_a_workload_that_ended_shows_shutoff():
    app, repo, ident = world()
    placed(repo, ident)  # still building: the conductor has not made it ACTIVE
    clock = ManualClock()
    compute = AppClient(app)
    agent = ComputeAgent("h1", "http://127.0.0.1:9", HostResources(4, 4096), FakeRuntime(clock), None, compute)
    agent.runtime.name = "vm"  # sized and never restarted, as a guest
    agent.spawn(ident, ["sh"], vcpus=2, ram_mb=256)
    unit = agent.runtime._units[ident]
    assert (unit.spec.resources.cpu_limit_millis, unit.spec.resources.memory_limit_bytes) == (2000, 256 * 2**20)
    agent.sync()
    agent.sync()
    assert compute.posts == 2, "not settled while building: reported again"
    repo.update_server(repo.server(ident), {"status": "ACTIVE", "task_state": None})
    agent.sync()
    posts = compute.posts
    agent.sync()
    assert compute.posts == posts, "settled: nothing more to say"
    agent.runtime.stop(ident, grace=0)
    clock.advance(1)
    agent.sync()
    assert agent.runtime.status(ident).state is UnitState.STOPPED
    assert call(app, "GET", f"/servers/{ident}").json()["server"]["status"] == "SHUTOFF"
