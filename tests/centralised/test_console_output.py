"""Nova's `os-getConsoleOutput` on the compute API, read from the server's agent with the service token,
which agents accept for that read alone (in process, on the fake runtime: no guest boots)."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from berth.centralised.compute.consoles import AgentConsoles
from berth.centralised.compute.errors import ApiError
from tests.centralised.creds import CONDUCTOR, SERVICE
from tests.centralised.plane import InProcessPlane


@pytest.fixture(scope="module")
def plane():
    with contextlib.ExitStack() as stack:
        plane = InProcessPlane(stack, hosts=1)
        plane.server = plane.create("console")
        plane.drive()
        yield plane


def action(plane, server: str, body: dict) -> httpx.Response:
    return plane.member.post(f"/servers/{server}/action", json=body)


@pytest.mark.parametrize("length", [1, "1", None, -1])
def test_a_server_s_console_output_comes_from_its_agent(plane, length):
    reply = action(plane, plane.server, {"os-getConsoleOutput": {"length": length}})
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"].startswith(f"fake unit {plane.server} run 0 started")
    assert action(plane, plane.server, {"os-getConsoleOutput": {"length": 0}}).json() == {"output": ""}


@pytest.mark.parametrize("body", [{"os-getConsoleOutput": {"length": -2}}, {"os-getConsoleOutput": {"length": "-5"}},
                                  {"os-getConsoleOutput": {"length": "ten"}}, {"reboot": {"type": "SOFT"}},
                                  {"os-getConsoleOutput": {"lines": 3}}])
def test_bad_lengths_and_other_actions_are_400(plane, body):
    reply = action(plane, plane.server, body)
    assert reply.status_code == 400 and "badRequest" in reply.json()


def test_unknown_and_unplaced_servers(plane):
    body = {"os-getConsoleOutput": {}}
    assert action(plane, "00000000-0000-0000-0000-000000000000", body).status_code == 404
    building = plane.create("not-yet-placed")
    assert action(plane, building, body).status_code == 409
    plane.drive()
    assert action(plane, building, body).status_code == 200


def test_agents_take_the_service_token_for_console_reads_alone(plane):
    agent = plane.agents["h0"].url
    service = {"x-auth-token": SERVICE, "x-roles": "admin,service"}
    assert httpx.get(f"{agent}/servers/{plane.server}/console", headers=service).status_code == 200
    assert httpx.get(f"{agent}/servers", headers=service).status_code == 401
    assert httpx.post(f"{agent}/servers", json={"id": "x"}, headers=service).status_code == 401
    assert httpx.delete(f"{agent}/servers/{plane.server}", headers=service).status_code == 401
    assert httpx.get(f"{agent}/servers/{plane.server}/console", headers={"x-auth-token": CONDUCTOR}).status_code == 200
    assert httpx.get(f"{agent}/servers/{plane.server}/console").status_code == 401


def test_a_compute_api_without_the_token_says_so():
    with pytest.raises(ApiError) as refused:
        AgentConsoles(None).read("http://127.0.0.1:9", "x", -1)
    assert refused.value.status == 501
