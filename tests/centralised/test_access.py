"""Who may call the centralised plane's services: a token each service knows, roles that count
only when the token carries them, agents that answer the conductor alone; and bad input that
is a 4xx, never a 5xx.  Also the credentials `berth up --plane centralised` generates.
"""

from __future__ import annotations

import contextlib
import json
import stat

import httpx
import pytest

from berth.centralised.scheduler.app import create_app as scheduler_app
from berth.centralised.tokens import ROLES, TokenFile, generate, read_token
from tests.centralised.creds import ADMIN, CONDUCTOR, MEMBER, SERVICE, TOKENS
from tests.centralised.plane import InProcessPlane
from tests.centralised.servers import serve


@pytest.fixture(scope="module")
def plane():
    with contextlib.ExitStack() as stack:
        plane = InProcessPlane(stack, hosts=1)
        plane.scheduler_url = stack.enter_context(serve(scheduler_app(plane.scheduler, tokens=TOKENS)))
        plane.agent_url = plane.agents["h0"].url
        yield plane


def _targets(plane) -> dict[str, tuple[str, str, str]]:  # noqa: ANN001
    """service -> (method, URL, body) of one ordinary call."""
    return {"placement": ("GET", f"{plane.placement_url}/resource_providers", ""),
            "compute": ("GET", f"{plane.compute_url}/servers", ""),
            "scheduler": ("POST", f"{plane.scheduler_url}/select_destinations", '{"request_spec": {}}'),
            "agent": ("GET", f"{plane.agent_url}/servers", "")}


@pytest.mark.parametrize("service", ["placement", "compute", "scheduler", "agent"])
@pytest.mark.parametrize("token", [None, "admin", "nope", "admin:admin"])
def test_every_service_refuses_no_or_an_unknown_token_with_401(plane, service, token):
    method, url, body = _targets(plane)[service]
    headers = {"content-type": "application/json", "x-roles": "admin,service"}
    if token is not None:
        headers["x-auth-token"] = token
    assert httpx.request(method, url, content=body, headers=headers).status_code == 401


@pytest.mark.parametrize("service, path", [("placement", "/resource_providers"), ("compute", "/os-services"),
                                           ("scheduler", "/select_destinations")])
def test_a_member_claiming_admin_is_refused_with_403(plane, service, path):
    method, url, body = _targets(plane)[service]
    base = url.rsplit("/", 1)[0] if service != "placement" else plane.placement_url
    headers = {"x-auth-token": MEMBER, "x-roles": "admin,service", "x-project-id": "admin",
               "content-type": "application/json", "openstack-api-version": "placement 1.39"}
    assert httpx.request(method, base + path, content=body, headers=headers).status_code == 403


def test_agents_answer_the_conductor_alone(plane):
    url = f"{plane.agent_url}/servers"
    for token in (SERVICE, ADMIN, MEMBER):
        assert httpx.get(url, headers={"x-auth-token": token}).status_code == 401
    assert httpx.get(url, headers={"x-auth-token": CONDUCTOR}).status_code == 200
    assert httpx.get(f"{plane.agent_url}/healthz").status_code == 200


def test_the_service_token_speaks_for_the_roles_it_claims(plane):
    url = f"{plane.compute_url}/os-services"
    assert httpx.get(url, headers={"x-auth-token": SERVICE}).status_code == 403
    assert httpx.get(url, headers={"x-auth-token": SERVICE, "x-roles": "admin"}).status_code == 200


@pytest.mark.parametrize("body", ["[" * 900 + "]" * 900, '{"server": ' * 900 + "1" + "}" * 900,
                                  '{"server": {"name": "' + "x" * 300_000 + '", "flavorRef": "small"}}'])
def test_bad_bodies_to_the_compute_api_are_400_and_small(plane, body):
    resp = plane.member.post("/servers", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400 and len(resp.content) < 2048


@pytest.mark.parametrize("body", [{"id": "../../etc"}, {"id": "x", "command": ["sh\x00"]},
                                  {"id": "x", "command": ["a"] * 100}, {"id": "x" * 65}, [[[[]]]] * 3])
def test_bad_bodies_to_an_agent_are_4xx(plane, body):
    resp = httpx.post(f"{plane.agent_url}/servers", json=body, headers={"x-auth-token": CONDUCTOR})
    assert 400 <= resp.status_code < 500


def test_deep_json_to_an_agent_and_a_scheduler_is_4xx(plane):
    deep = "[" * 900 + "]" * 900
    agent = httpx.post(f"{plane.agent_url}/servers", content=deep, headers={"x-auth-token": CONDUCTOR})
    chosen = httpx.post(f"{plane.scheduler_url}/select_destinations", content=deep, headers={"x-auth-token": SERVICE})
    assert (agent.status_code, chosen.status_code) == (422, 400)


# ---- the generated credentials -------------------------------------------------------------
def test_generated_credentials_are_private_random_and_kept(tmp_path):
    creds = generate(tmp_path / "secrets")
    assert stat.S_IMODE(creds.dir.stat().st_mode) == 0o700
    files = sorted(creds.dir.iterdir())
    assert [f.name for f in files] == ["admin.token", "agent-tokens.json", "conductor.token", "member.token",
                                       "service.token", "tokens.json"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    tokens = {name: read_token(creds.token(name)) for name in ROLES}
    assert len(set(tokens.values())) == 4 and all(len(t) >= 40 for t in tokens.values())
    table = creds.tokens.read_text()
    assert not any(t in table for t in tokens.values()), "tables hold digests, never tokens"
    assert [r["user"] for r in json.loads(table)["tokens"]] == ["berth-service", "admin", "demo"]
    accepted = TokenFile.load(creds.tokens)
    assert accepted.identify({"x-auth-token": tokens["admin"]}).roles == ROLES["admin"].roles
    assert accepted.identify({"x-auth-token": tokens["conductor"]}) is None
    agent = TokenFile.load(creds.agent_tokens)
    assert [agent.identify({"x-auth-token": t}) is not None for t in tokens.values()] == [False, True, False, False]
    assert generate(tmp_path / "secrets") == creds and read_token(creds.token("admin")) == tokens["admin"]
