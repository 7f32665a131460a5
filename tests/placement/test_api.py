"""Placement API behaviour, in process (Starlette TestClient), on SQLite and PostgreSQL.

Each test reads as a timeline: providers appear, inventory is set, candidates are asked
for, claims race, and the answers (bodies, codes, generations) are checked against what
upstream Placement returns.
"""

from __future__ import annotations

import uuid

import pytest
from starlette.testclient import TestClient

from berth.centralised.placement import PlacementService
from tests.centralised.creds import ADMIN, TOKENS

LATEST = {"x-auth-token": ADMIN, "openstack-api-version": "placement latest"}


@pytest.fixture
def api(db_url):
    service = PlacementService(db_url, auth=TOKENS)
    with TestClient(service.app, headers=LATEST) as client:
        client.service = service
        yield client
    service.db.engine.dispose()


def provider(api, name: str, parent: str | None = None, **inventory: int) -> str:
    rp = api.post("/resource_providers", json={"name": name, "parent_provider_uuid": parent}).json()["uuid"]
    if inventory:
        body = {"resource_provider_generation": 0, "inventories": {rc: {"total": t} for rc, t in inventory.items()}}
        assert api.put(f"/resource_providers/{rp}/inventories", json=body).status_code == 200
    return rp


def claim(api, rp: str, consumer: str | None = None, generation=None, **resources: int):  # noqa: ANN001
    consumer = consumer or str(uuid.uuid4())
    body = {"allocations": {rp: {"resources": resources}}, "project_id": "p", "user_id": "u",
            "consumer_generation": generation, "consumer_type": "INSTANCE"}
    return api.put(f"/allocations/{consumer}", json=body)


def test_version_document_and_negotiation(api):
    root = api.get("/", headers={"x-auth-token": ""}).json()
    assert root["versions"][0]["max_version"] == "1.39" and root["versions"][0]["min_version"] == "1.0"
    too_new = api.get("/resource_providers", headers={"openstack-api-version": "placement 1.40"})
    assert too_new.status_code == 406
    assert too_new.json()["errors"][0]["max_version"] == "1.39"
    assert api.get("/resource_providers", headers={"openstack-api-version": "placement x"}).status_code == 400
    plain = api.get("/resource_providers", headers={"openstack-api-version": ""})
    assert plain.headers["openstack-api-version"] == "placement 1.0"
    assert plain.headers["vary"] == "openstack-api-version"


@pytest.mark.parametrize("header", ["placement 1.2, compute 2.50", "compute 2.50, placement 1.2"])
def test_the_placement_entry_is_found_in_either_order(api, header):
    resp = api.get("/resource_classes", headers={"openstack-api-version": header})
    assert resp.status_code == 200
    assert resp.headers["openstack-api-version"] == "placement 1.2"
    assert resp.headers["vary"] == "openstack-api-version"


def test_candidates_then_claim_until_full(api):
    rp = provider(api, "cn1", VCPU=4, MEMORY_MB=2048)
    found = api.get("/allocation_candidates?resources=VCPU:2,MEMORY_MB:512").json()
    assert list(found["allocation_requests"][0]["allocations"]) == [rp]
    assert found["provider_summaries"][rp]["resources"]["VCPU"] == {"capacity": 4, "used": 0}
    assert claim(api, rp, VCPU=2).status_code == 204
    assert claim(api, rp, VCPU=2).status_code == 204
    full = claim(api, rp, VCPU=1)
    assert full.status_code == 409 and "exceed the capacity" in full.json()["errors"][0]["detail"]
    assert api.get("/allocation_candidates?resources=VCPU:1").json()["allocation_requests"] == []
    assert api.get(f"/resource_providers/{rp}/usages").json()["usages"] == {"VCPU": 4, "MEMORY_MB": 0}


def test_provider_summaries_show_usage_after_each_claim(api):
    """Summaries are cached per index view; a claim's patched view must not reuse stale ones."""
    rp = provider(api, "cn1", VCPU=4)
    for used in range(4):
        found = api.get("/allocation_candidates?resources=VCPU:1").json()
        assert found["provider_summaries"][rp]["resources"]["VCPU"] == {"capacity": 4, "used": used}
        assert claim(api, rp, VCPU=1).status_code == 204
    assert api.get("/allocation_candidates?resources=VCPU:1").json()["provider_summaries"] == {}


def test_generation_conflicts_are_concurrent_update(api):
    rp = provider(api, "cn1")
    stale = {"resource_provider_generation": 5, "inventories": {"VCPU": {"total": 8}}}
    err = api.put(f"/resource_providers/{rp}/inventories", json=stale)
    assert err.status_code == 409 and err.json()["errors"][0]["code"] == "placement.concurrent_update"
    consumer = str(uuid.uuid4())
    provider_inv = {"resource_provider_generation": 0, "inventories": {"VCPU": {"total": 8}}}
    assert api.put(f"/resource_providers/{rp}/inventories", json=provider_inv).status_code == 200
    assert claim(api, rp, consumer, None, VCPU=1).status_code == 204
    again = claim(api, rp, consumer, None, VCPU=1)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "placement.concurrent_update"
    assert claim(api, rp, consumer, 1, VCPU=3).status_code == 204
    assert api.get(f"/allocations/{consumer}").json()["consumer_generation"] == 2


def test_nested_tree_granular_groups_and_limit(api):
    cn = provider(api, "cn", VCPU=8)
    numa = [provider(api, f"numa{i}", cn, MEMORY_MB=1024) for i in range(2)]
    q = "resources=VCPU:1&resources_M=MEMORY_MB:512&resources_N=MEMORY_MB:512&group_policy=isolate"
    cands = api.get(f"/allocation_candidates?{q}").json()["allocation_requests"]
    assert len(cands) == 2
    assert {tuple(c["mappings"]["_M"]) for c in cands} == {(numa[0],), (numa[1],)}
    assert len(api.get(f"/allocation_candidates?{q}&limit=1").json()["allocation_requests"]) == 1
    summaries = api.get(f"/allocation_candidates?{q}").json()["provider_summaries"]
    assert summaries[numa[0]]["parent_provider_uuid"] == cn and summaries[numa[0]]["root_provider_uuid"] == cn


def test_bad_input_is_4xx_and_changes_nothing(api):
    rp = provider(api, "cn1", VCPU=2)
    bad = [api.post("/resource_providers", content=b"{", headers={"content-type": "application/json"}),
           api.put(f"/resource_providers/{rp}/inventories", json={"inventories": {"VCPU": {"total": -1}}}),
           api.get("/allocation_candidates?resources=VCPU:x"),
           api.get("/allocation_candidates?resources=NOPE:1"),
           api.put(f"/allocations/{uuid.uuid4()}", json={"allocations": {rp: {"resources": {"VCPU": 0}}}}),
           api.get("/resource_providers?member_of=not-a-uuid")]
    assert [r.status_code for r in bad] == [400, 400, 400, 400, 400, 400]
    assert api.get(f"/resource_providers/{rp}").json()["generation"] == 1


def test_two_services_on_one_database_stay_coherent(db_url, api):
    """A write through one API worker is visible to another worker's candidate index."""
    other = PlacementService(db_url, auth=TOKENS)
    with TestClient(other.app, headers=LATEST) as peer:
        assert peer.get("/allocation_candidates?resources=VCPU:1").json()["allocation_requests"] == []
        rp = provider(api, "cn1", VCPU=1)
        assert len(peer.get("/allocation_candidates?resources=VCPU:1").json()["allocation_requests"]) == 1
        assert claim(api, rp, VCPU=1).status_code == 204
        assert peer.get("/allocation_candidates?resources=VCPU:1").json()["allocation_requests"] == []
        assert claim(peer, rp, VCPU=1).status_code == 409
    other.db.engine.dispose()
