"""The compute API: Nova-shaped bodies and errors, CAS-recorded builds and deletes, zones.

Requests go through httpx's in-process ASGI transport, with the admin's token unless a test
sends another; one test also serves over a real socket.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from berth.centralised.compute.api import create_app
from berth.centralised.compute.db import Repo
from berth.runtime.clock import ManualClock
from tests.centralised.creds import ADMIN, TOKENS

RP = "6f1c1b8e-5a3e-4d2b-9a53-0c6b8f6d2a11"


def call(app, method: str, path: str, **kw) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://compute",
                                     headers={"X-Auth-Token": ADMIN}) as c:
            return await c.request(method, path, **kw)
    return asyncio.run(go())


@pytest.fixture
def world():
    clock, notified = ManualClock(), []
    repo = Repo()
    app = create_app(repo, clock, notify=notified.append, service_down_time=60, tokens=TOKENS)
    call(app, "POST", "/flavors", json={"flavor": {"id": "small", "name": "m1.small", "vcpus": 1, "ram": 512}})
    call(app, "POST", "/os-services", json={"host": "h1", "url": "http://127.0.0.1:9", "rp_uuid": RP,
                                            "availability_zone": "az1"})
    return app, repo, clock, notified


def test_create_records_a_build_for_the_conductor(world):
    app, repo, _, notified = world
    resp = call(app, "POST", "/servers", json={"server": {"name": "web", "flavorRef": "small"}})
    assert resp.status_code == 202
    sid = resp.json()["server"]["id"]
    assert notified == [sid]
    shown = call(app, "GET", f"/servers/{sid}").json()["server"]
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("BUILD", "scheduling")
    assert shown["flavor"]["vcpus"] == 1
    assert repo.pending(now=0)[0]["id"] == sid
    assert [s["id"] for s in call(app, "GET", "/servers?status=BUILD").json()["servers"]] == [sid]
    assert call(app, "GET", "/servers/detail?status=ACTIVE").json()["servers"] == []
    assert call(app, "GET", "/servers?status=RUNNING").status_code == 400


def test_bad_input_is_a_400_naming_the_problem_and_changes_nothing(world):
    app, repo, *_ = world
    cases = [
        ({"server": {"name": "x", "flavorRef": "nope"}}, "Flavor nope could not be found"),
        ({"server": {"name": "x", "flavorRef": "small", "colour": "red"}}, "server.colour"),
        ({"server": {"name": "", "flavorRef": "small"}}, "server.name"),
        ({"server": {"name": "x", "flavorRef": "small", "availability_zone": "mars"}}, "availability zone"),
        ({"server": {"name": "x", "flavorRef": "small"}, "os:scheduler_hints": {"group": "missing"}},
         "server group missing"),
    ]
    for body, words in cases:
        resp = call(app, "POST", "/servers", json=body)
        assert resp.status_code == 400, body
        assert words in resp.json()["badRequest"]["message"], resp.json()
    assert call(app, "POST", "/servers", content=b"{not json").status_code == 400
    assert repo.servers() == []


def test_groups_support_the_four_policies_and_reject_unsupported_rules(world):
    app, *_ = world
    for policy in ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"):
        resp = call(app, "POST", "/os-server-groups", json={"server_group": {"name": policy, "policy": policy}})
        assert resp.status_code == 200 and resp.json()["server_group"]["policy"] == policy
    assert len(call(app, "GET", "/os-server-groups").json()["server_groups"]) == 4
    bad = call(app, "POST", "/os-server-groups", json={"server_group": {"name": "g", "policy": "spread"}})
    assert bad.status_code == 400
    rules = call(app, "POST", "/os-server-groups", json={"server_group": {
        "name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": 3}}})
    assert rules.status_code == 400 and "max_server_per_host" in rules.json()["badRequest"]["message"]


def test_members_are_listed_and_delete_is_recorded(world):
    app, *_ = world
    gid = call(app, "POST", "/os-server-groups", json={"server_group": {"name": "g", "policy": "anti-affinity"}}
               ).json()["server_group"]["id"]
    sid = call(app, "POST", "/servers", json={"server": {"name": "a", "flavorRef": "small"},
                                              "os:scheduler_hints": {"group": gid}}).json()["server"]["id"]
    assert call(app, "GET", f"/os-server-groups/{gid}").json()["server_group"]["members"] == [sid]
    assert call(app, "DELETE", f"/servers/{sid}").status_code == 204
    assert call(app, "GET", f"/servers/{sid}").json()["server"]["OS-EXT-STS:task_state"] == "deleting"
    assert call(app, "DELETE", "/servers/missing").status_code == 404
    assert call(app, "GET", "/servers/missing").json() == {
        "itemNotFound": {"code": 404, "message": "Instance missing could not be found."}}


def test_zones_and_services_go_down_on_the_clock(world):
    app, repo, clock, _ = world
    zones = call(app, "GET", "/os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "az1", "zoneState": {"available": True}, "hosts": None}]
    clock.advance(61)
    assert call(app, "GET", "/os-services").json()["services"][0]["state"] == "down"
    sid = call(app, "POST", "/servers", json={"server": {"name": "s", "flavorRef": "small"}}).json()["server"]["id"]
    repo.mutate_server(sid, lambda r: {"host": "h1"})
    shown = call(app, "GET", f"/servers/{sid}").json()["server"]
    assert (shown["host_status"], shown["OS-EXT-AZ:availability_zone"]) == ("DOWN", "az1")
    zones = call(app, "GET", "/os-availability-zone/detail").json()["availabilityZoneInfo"]
    assert zones[0]["zoneState"]["available"] is False
    assert zones[0]["hosts"]["h1"]["berth-compute"]["available"] is False
    call(app, "PUT", "/os-services/h1", json={"status": "disabled"})
    assert call(app, "GET", "/os-services").json()["services"][0]["status"] == "disabled"


def test_flavors_list_show_delete(world):
    app, *_ = world
    assert [f["id"] for f in call(app, "GET", "/flavors").json()["flavors"]] == ["small"]
    assert call(app, "POST", "/flavors", json={"flavor": {"name": "m1.small", "vcpus": 1, "ram": 1}}).status_code == 409
    bad = call(app, "POST", "/flavors", json={"flavor": {"name": "gpu", "vcpus": 1, "ram": 1,
                                                          "extra_specs": {"trait:HW_GPU": "maybe"}}})
    assert bad.status_code == 400 and "trait:HW_GPU" in bad.json()["badRequest"]["message"]
    assert call(app, "DELETE", "/flavors/small").status_code == 202
    assert call(app, "GET", "/flavors/small").status_code == 404


def test_served_over_a_real_socket(world, tmp_path):
    from tests.centralised.servers import serve
    app, *_ = world
    with serve(app) as url:
        resp = httpx.get(f"{url}/flavors/small", headers={"X-Auth-Token": ADMIN})
        assert resp.status_code == 200 and resp.json()["flavor"]["name"] == "m1.small"
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "berth compute API"


def test_microversions_are_negotiated_like_novas(world):
    app, *_ = world
    plain = call(app, "GET", "/flavors")
    assert plain.headers["OpenStack-API-Version"] == "compute 2.1"
    latest = call(app, "GET", "/flavors", headers={"OpenStack-API-Version": "compute latest"})
    assert latest.headers["OpenStack-API-Version"] == "compute 2.64"
    legacy = call(app, "GET", "/flavors", headers={"X-OpenStack-Nova-API-Version": "2.53"})
    assert legacy.headers["X-OpenStack-Nova-API-Version"] == "2.53"
    too_new = call(app, "GET", "/flavors", headers={"OpenStack-API-Version": "compute 2.99"})
    assert too_new.status_code == 406 and "maximum is 2.64" in too_new.json()["notAcceptable"]["message"]
    assert call(app, "GET", "/flavors", headers={"OpenStack-API-Version": "compute two"}).status_code == 400
    other = call(app, "GET", "/flavors", headers={"OpenStack-API-Version": "placement 1.39"})
    assert other.status_code == 200 and other.headers["OpenStack-API-Version"] == "compute 2.1"


@pytest.mark.parametrize("header", ["placement 1.2, compute 2.50", "compute 2.50, placement 1.2"])
def test_the_compute_entry_is_found_in_either_order(world, header):
    app, *_ = world
    resp = call(app, "GET", "/flavors", headers={"OpenStack-API-Version": header})
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == "compute 2.50"
    assert resp.headers["Vary"] == "OpenStack-API-Version, X-OpenStack-Nova-API-Version"


def test_a_refused_version_is_stamped_with_the_minimum(world):
    app, *_ = world
    resp = call(app, "GET", "/flavors", headers={"OpenStack-API-Version": "placement 1.2, compute two"})
    assert resp.status_code == 400 and "'two'" in resp.json()["badRequest"]["message"]
    assert resp.headers["OpenStack-API-Version"] == "compute 2.1"
