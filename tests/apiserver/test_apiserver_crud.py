"""API server in process (httpx ASGI transport): the CRUD timeline of pods and nodes, CAS, selectors, paging."""

from __future__ import annotations

import asyncio

import pytest

from tests.apiserver.conftest import pod

pytestmark = pytest.mark.anyio
PODS = "/api/v1/namespaces/default/pods"


async def test_create_get_list_delete_pod(client):
    r = await client.post(PODS, json=pod("p1"))
    assert r.status_code == 201
    created = r.json()
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"].isdigit()
    assert created["spec"]["schedulerName"] == "default-scheduler" and created["status"]["phase"] == "Pending"
    got = (await client.get(f"{PODS}/p1")).json()
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    listed = (await client.get(PODS)).json()
    assert listed["kind"] == "PodList" and [p["metadata"]["name"] for p in listed["items"]] == ["p1"]
    assert int(listed["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
    r = await client.delete(f"{PODS}/p1")
    assert r.status_code == 200 and r.json()["metadata"]["name"] == "p1"
    r = await client.get(f"{PODS}/p1")
    assert r.status_code == 404 and r.json()["reason"] == "NotFound" and r.json()["message"] == 'pods "p1" not found'


async def test_duplicate_create_is_409_already_exists(client):
    assert (await client.post(PODS, json=pod("p1"))).status_code == 201
    r = await client.post(PODS, json=pod("p1"))
    assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"


async def test_stale_resource_version_is_409_conflict(client):
    first = (await client.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})).json()
    fresh = dict(first, metadata=dict(first["metadata"], labels={"zone": "a"}))
    assert (await client.put("/api/v1/nodes/n1", json=fresh)).status_code == 200
    stale = dict(first, metadata=dict(first["metadata"], labels={"zone": "b"}))
    r = await client.put("/api/v1/nodes/n1", json=stale)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    assert "the object has been modified" in r.json()["message"]
    assert (await client.get("/api/v1/nodes/n1")).json()["metadata"]["labels"] == {"zone": "a"}


async def test_label_and_field_selectors(client):
    await client.post(PODS, json=pod("a", labels={"app": "web", "tier": "front"}))
    await client.post(PODS, json=pod("b", labels={"app": "web", "tier": "back"}))
    await client.post(PODS, json=pod("c", labels={"app": "db"}))
    await client.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})
    await client.post(f"{PODS}/b/binding", json={"target": {"name": "n1"}})

    async def names(**params):
        r = await client.get(PODS, params=params)
        assert r.status_code == 200, r.text
        return sorted(p["metadata"]["name"] for p in r.json()["items"])

    assert await names(labelSelector="app=web") == ["a", "b"]
    assert await names(labelSelector="app=web,tier!=front") == ["b"]
    assert await names(labelSelector="tier in (front, x)") == ["a"]
    assert await names(labelSelector="!tier") == ["c"]
    assert await names(fieldSelector="spec.nodeName=n1") == ["b"]
    assert await names(fieldSelector="spec.nodeName=") == ["a", "c"]
    assert await names(fieldSelector="metadata.name=c") == ["c"]
    r = await client.get(PODS, params={"fieldSelector": "spec.bogus=1"})
    assert r.status_code == 400 and "field label not supported" in r.json()["message"]
    r = await client.get(PODS, params={"labelSelector": "a in (b"})
    assert r.status_code == 400


async def test_limit_and_continue_page_through_everything(client):
    for i in range(7):
        await client.post(PODS, json=pod(f"p{i}"))
    seen, token, pages = [], "", 0
    while True:
        params = {"limit": 3, **({"continue": token} if token else {})}
        body = (await client.get(PODS, params=params)).json()
        seen += [p["metadata"]["name"] for p in body["items"]]
        pages += 1
        token = body["metadata"].get("continue", "")
        if not token:
            break
    assert seen == [f"p{i}" for i in range(7)] and pages == 3
    assert (await client.get(PODS, params={"continue": "%%%"})).status_code == 400


async def test_namespaced_create_needs_an_existing_namespace(client):
    r = await client.post("/api/v1/namespaces/nope/pods", json=pod("p"))
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "nope" not found'
    assert (await client.post("/api/v1/namespaces", json={"metadata": {"name": "team"}})).status_code == 201
    assert (await client.post("/api/v1/namespaces/team/pods", json=pod("p"))).status_code == 201
    all_pods = (await client.get("/api/v1/pods")).json()["items"]
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in all_pods] == [("team", "p")]
    assert (await client.delete("/api/v1/namespaces/team")).status_code == 200
    assert (await client.get("/api/v1/namespaces/team/pods/p")).status_code == 404


async def test_concurrent_updates_one_wins_the_cas(client):
    base = (await client.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})).json()

    async def put(zone):
        body = dict(base, metadata=dict(base["metadata"], labels={"zone": zone}))
        return (await client.put("/api/v1/nodes/n1", json=body)).status_code

    codes = await asyncio.gather(*(put(z) for z in "abcde"))
    assert sorted(codes) == [200, 409, 409, 409, 409]
