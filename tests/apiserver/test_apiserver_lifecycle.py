"""API server in process: binding, status, scale, eviction, patches, graceful deletion and finalizers, watch."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

from tests.apiserver.conftest import deployment, pod

pytestmark = pytest.mark.anyio
PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
SMP = {"content-type": "application/strategic-merge-patch+json"}


async def bound_pod(client, name="p1", node="n1"):
    await client.post("/api/v1/nodes", json={"metadata": {"name": node}})
    assert (await client.post(PODS, json=pod(name))).status_code == 201
    r = await client.post(f"{PODS}/{name}/binding", json={"apiVersion": "v1", "kind": "Binding",
                                                         "metadata": {"name": name},
                                                         "target": {"kind": "Node", "name": node}})
    assert r.status_code == 201 and r.json()["status"] == "Success"


async def test_binding_sets_node_and_condition_once(client):
    await bound_pod(client)
    got = (await client.get(f"{PODS}/p1")).json()
    assert got["spec"]["nodeName"] == "n1"
    assert [c["type"] for c in got["status"]["conditions"]] == ["PodScheduled"]
    again = await client.post(f"{PODS}/p1/binding", json={"target": {"name": "n2"}})
    assert again.status_code == 409 and 'already assigned to node "n1"' in again.json()["message"]


async def test_status_subresource_and_main_resource_do_not_overwrite_each_other(client):
    await bound_pod(client)
    r = await client.patch(f"{PODS}/p1/status", content=json.dumps({"status": {"phase": "Running"},
                                                                    "spec": {"nodeName": "evil"}}), headers=SMP)
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Running" and r.json()["spec"]["nodeName"] == "n1"
    r = await client.patch(f"{PODS}/p1", content=json.dumps({"metadata": {"labels": {"x": "y"}},
                                                             "status": {"phase": "Failed"}}), headers=SMP)
    assert r.status_code == 200 and r.json()["status"]["phase"] == "Running"
    assert r.json()["metadata"]["labels"]["x"] == "y"


async def test_strategic_merge_patch_merges_containers_by_name_and_env_by_name(client):
    body = deployment("web")
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    created = (await client.post(DEPLOYS, json=body)).json()
    assert created["metadata"]["generation"] == 1
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "env": [{"name": "A", "value": "9"}, {"name": "B", "$patch": "delete"}]},
        {"name": "side", "image": "busybox"}]}}}}
    r = await client.patch(f"{DEPLOYS}/web", content=json.dumps(patch), headers=SMP)
    assert r.status_code == 200, r.text
    containers = r.json()["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main", "side"]
    assert containers[0]["env"] == [{"name": "A", "value": "9"}] and containers[0]["image"] == "busybox:1.36"
    assert r.json()["metadata"]["generation"] == 2


async def test_json_patch_and_merge_patch(client):
    await client.post(DEPLOYS, json=deployment("web"))
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 7}, {"op": "test", "path": "/spec/replicas",
                                                                    "value": 7}]
    r = await client.patch(f"{DEPLOYS}/web", content=json.dumps(ops),
                           headers={"content-type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 7
    r = await client.patch(f"{DEPLOYS}/web", content=json.dumps({"metadata": {"labels": {"a": "b"}}}),
                           headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["metadata"]["labels"] == {"a": "b"}
    bad = [{"op": "test", "path": "/spec/replicas", "value": 1}]
    r = await client.patch(f"{DEPLOYS}/web", content=json.dumps(bad),
                           headers={"content-type": "application/json-patch+json"})
    assert r.status_code == 422
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}
    r = await client.patch(f"{DEPLOYS}/web", content=json.dumps(stale), headers=SMP)
    assert r.status_code == 409


async def test_scale_subresource(client):
    await client.post(DEPLOYS, json=deployment("web", 3))
    scale = (await client.get(f"{DEPLOYS}/web/scale")).json()
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"
    r = await client.patch(f"{DEPLOYS}/web/scale", content=json.dumps({"spec": {"replicas": 5}}),
                           headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 5
    assert (await client.get(f"{DEPLOYS}/web")).json()["spec"]["replicas"] == 5
    r = await client.put(f"{DEPLOYS}/web/scale", json={"spec": {"replicas": -1}})
    assert r.status_code == 422


async def test_graceful_pod_deletion_waits_for_the_agent(client):
    await bound_pod(client)
    r = await client.delete(f"{PODS}/p1")
    meta = r.json()["metadata"]
    assert r.status_code == 200 and meta["deletionTimestamp"] and meta["deletionGracePeriodSeconds"] == 30
    assert (await client.get(f"{PODS}/p1")).status_code == 200
    assert (await client.delete(f"{PODS}/p1", params={"gracePeriodSeconds": 0})).status_code == 200
    assert (await client.get(f"{PODS}/p1")).status_code == 404


async def test_finalizers_hold_an_object_until_cleared(client):
    body = deployment("web")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await client.post(DEPLOYS, json=body)
    r = await client.delete(f"{DEPLOYS}/web", params={"propagationPolicy": "Foreground"})
    assert r.status_code == 200
    held = (await client.get(f"{DEPLOYS}/web")).json()
    assert held["metadata"]["finalizers"] == ["example.com/hold", "foregroundDeletion"]
    r = await client.patch(f"{DEPLOYS}/web", content=json.dumps({"metadata": {"finalizers": None}}),
                           headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200
    assert (await client.get(f"{DEPLOYS}/web")).status_code == 404


async def test_eviction_deletes_the_pod(client):
    await client.post(PODS, json=pod("p1"))
    r = await client.post(f"{PODS}/p1/eviction", json={"apiVersion": "policy/v1", "kind": "Eviction",
                                                      "metadata": {"name": "p1"}})
    assert r.status_code == 201
    assert (await client.get(f"{PODS}/p1")).status_code == 404


async def test_watch_from_revision_sees_modified_and_deleted(client):
    rv = (await client.post(PODS, json=pod("p1"))).json()["metadata"]["resourceVersion"]

    async def writes():
        await asyncio.sleep(0.1)
        await client.patch(f"{PODS}/p1", content=b'{"metadata":{"labels":{"v":"2"}}}', headers=SMP)
        await client.delete(f"{PODS}/p1")

    watch = client.get(PODS, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"})
    response, _ = await asyncio.gather(watch, writes())
    events = [orjson.loads(line) for line in response.content.splitlines()]
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["metadata"]["labels"]["v"] == "2"


async def test_filtered_watch_sees_a_pod_arrive_when_bound(client):
    await client.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})
    await client.post(PODS, json=pod("p1"))

    async def bind():
        await asyncio.sleep(0.1)
        await client.post(f"{PODS}/p1/binding", json={"target": {"name": "n1"}})

    watch = client.get("/api/v1/pods", params={"watch": "1", "fieldSelector": "spec.nodeName=n1",
                                                "timeoutSeconds": "1"})
    response, _ = await asyncio.gather(watch, bind())
    events = [orjson.loads(line) for line in response.content.splitlines()]
    assert [(e["type"], e["object"]["spec"]["nodeName"]) for e in events] == [("ADDED", "n1")]


async def test_watch_of_a_compacted_revision_is_410(app, client):
    for i in range(5):
        await client.post(PODS, json=pod(f"p{i}"))
    store = app.state.api.store
    store.compact(store.revision - 1)
    r = await client.get(PODS, params={"watch": "1", "resourceVersion": "2", "timeoutSeconds": "1"})
    event = orjson.loads(r.content.splitlines()[0])
    assert event["type"] == "ERROR" and event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"


async def test_table_output_has_wide_columns(client):
    await bound_pod(client)
    r = await client.get(PODS, headers={"accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    table = r.json()
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    wide = {c["name"] for c in table["columnDefinitions"] if c["priority"] == 1}
    assert {"IP", "Node"} <= wide
    cells = table["rows"][0]["cells"]
    assert cells[0] == "p1" and cells[2] == "Pending" and cells[names.index("Node")] == "n1"


async def test_watch_with_table_accept_streams_one_row_tables(client):
    rv = (await client.post(PODS, json=pod("p1"))).json()["metadata"]["resourceVersion"]

    async def change():
        await asyncio.sleep(0.1)
        await client.patch(f"{PODS}/p1", content=b'{"metadata":{"labels":{"v":"2"}}}', headers=SMP)

    watch = client.get(PODS, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"},
                       headers={"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    response, _ = await asyncio.gather(watch, change())
    events = [orjson.loads(line) for line in response.content.splitlines()]
    assert [e["type"] for e in events] == ["MODIFIED"]
    table = events[0]["object"]
    assert table["kind"] == "Table" and table["rows"][0]["cells"][0] == "p1"
