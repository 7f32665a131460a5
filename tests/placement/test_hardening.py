"""Placement refuses what would break it, and only callers it knows get in.

Regression tests for defects found by probing a running server: integers beyond 64 bits, JSON
nested 900 deep, capacities that overflowed to negative, bodies echoed whole in a 400, no cap
on body size, a kept-alive connection reset after a 500; and for the token check that replaced
"any token with X-Roles: admin is an admin".
"""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from starlette.testclient import TestClient

from berth.centralised.placement import PlacementService
from berth.centralised.placement.app import MAX_BODY
from berth.centralised.tokens import NoAuth2
from tests.centralised.creds import ADMIN, MEMBER, SERVICE, TOKENS
from tests.placement.live import LiveServer

V = {"openstack-api-version": "placement latest"}


@pytest.fixture
def api():
    service = PlacementService("sqlite://", auth=TOKENS)
    with TestClient(service.app, headers={**V, "x-auth-token": ADMIN}, raise_server_exceptions=False) as client:
        client.service = service
        yield client


def _provider(api, **inventory) -> str:  # noqa: ANN001
    rp = api.post("/resource_providers", json={"name": f"cn-{uuid.uuid4()}"}).json()["uuid"]
    if inventory:
        body = {"resource_provider_generation": 0, "inventories": inventory}
        assert api.put(f"/resource_providers/{rp}/inventories", json=body).status_code == 200
    return rp


@pytest.mark.parametrize("path", ["/allocation_candidates?resources=VCPU:9223372036854775808",
                                  "/resource_providers?resources=VCPU:99999999999999999999999999"])
def test_amounts_beyond_64_bits_are_400(api, path):
    _provider(api, VCPU={"total": 8})
    resp = api.get(path)
    assert resp.status_code == 400 and "VCPU" in resp.json()["errors"][0]["detail"]


@pytest.mark.parametrize("doc", ["[" * 900 + "]" * 900, '{"a":' * 900 + "1" + "}" * 900])
def test_json_nested_900_deep_is_400(api, doc):
    resp = api.post("/resource_providers", content=doc, headers={"content-type": "application/json"})
    assert resp.status_code == 400 and "nested" in resp.json()["errors"][0]["detail"]


@pytest.mark.parametrize("inventory", [{"total": 8, "allocation_ratio": 1e20},
                                       {"total": 2147483647, "allocation_ratio": 3.4e38},
                                       {"total": 2147483648}])
def test_huge_ratios_and_totals_are_400(api, inventory):
    rp = _provider(api)
    body = {"resource_provider_generation": 0, "inventories": {"VCPU": inventory}}
    assert api.put(f"/resource_providers/{rp}/inventories", json=body).status_code == 400
    one = {"resource_provider_generation": 0, **inventory}
    assert api.put(f"/resource_providers/{rp}/inventories/VCPU", json=one).status_code == 400
    assert api.get(f"/resource_providers/{rp}/inventories").json()["inventories"] == {}


def test_the_largest_capacity_allowed_reads_positive(api):
    rp = _provider(api, VCPU={"total": 2147483647, "allocation_ratio": 4_000_000.0})
    summary = api.get("/allocation_candidates?resources=VCPU:1").json()["provider_summaries"][rp]
    assert summary["resources"]["VCPU"]["capacity"] == 2147483647 * 4_000_000


def test_a_2_mb_body_gets_a_small_400(api):
    resp = api.post("/resource_providers", json={"name": "x" * 2_000_000})
    assert resp.status_code == 400
    assert len(resp.content) < 4096 and "JSON does not validate" in resp.json()["errors"][0]["detail"]


def test_a_body_over_the_cap_gets_413(api):
    resp = api.post("/resource_providers", content=b"{" + b" " * MAX_BODY + b"}",
                    headers={"content-type": "application/json"})
    assert resp.status_code == 413 and len(resp.content) < 1024


def test_a_chunked_body_over_the_cap_gets_413(api):
    chunks = (b" " * (1 << 20) for _ in range(MAX_BODY // (1 << 20) + 2))
    resp = api.post("/resource_providers", content=chunks, headers={"content-type": "application/json"})
    assert resp.status_code == 413


def test_after_a_500_the_kept_alive_connection_closes_cleanly():
    server = LiveServer(auth=TOKENS).start()
    try:
        rp = server.client().post("/resource_providers", json={"name": "cn"}).json()["uuid"]
        server.service.db.read = _boom
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(f"GET /resource_providers/{rp}/inventories HTTP/1.1\r\nHost: x\r\n"
                         f"X-Auth-Token: {ADMIN}\r\n\r\n".encode())
            raw = _read_all(conn)
        head, _sep, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 500") and b"connection: close" in head.lower()
        assert json.loads(body)["errors"][0]["status"] == 500
    finally:
        server.stop()


def _boom():  # noqa: ANN202
    raise RuntimeError("a bug")


def _read_all(conn: socket.socket) -> bytes:
    """Everything until the server closes (a reset raises, which is the defect)."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# ---- authentication and roles --------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "", "admin", "admin:admin", "nope"])
def test_no_or_unknown_token_is_401(api, token):
    headers = {**V, "x-auth-token": token} if token is not None else V
    with TestClient(api.service.app) as bare:
        resp = bare.get("/resource_providers", headers={**headers, "x-roles": "admin"})
    assert resp.status_code == 401 and resp.json()["errors"][0]["title"] == "Unauthorized"
    assert bare.get("/", headers=V).status_code == 200


def test_a_member_claiming_admin_gets_403_and_the_service_token_may_claim(api):
    forged = api.get("/resource_providers", headers={"x-auth-token": MEMBER, "x-roles": "admin"})
    assert forged.status_code == 403
    assert api.get("/resource_providers", headers={"x-auth-token": SERVICE}).status_code == 200
    as_reader = api.get("/resource_providers", headers={"x-auth-token": SERVICE, "x-roles": "reader"})
    assert as_reader.status_code == 403


def test_noauth2_is_only_there_when_asked_for():
    with TestClient(PlacementService("sqlite://", auth=NoAuth2()).app, headers=V) as open_api:
        assert open_api.get("/resource_providers", headers={"x-auth-token": "admin"}).status_code == 200
    with pytest.raises(TypeError):
        PlacementService("sqlite://")  # no strategy by default


def test_the_server_refuses_to_start_without_a_token_file():
    from berth.centralised.placement.server import main
    with pytest.raises(SystemExit):
        main(["--db", "sqlite://", "--port", "1"])
