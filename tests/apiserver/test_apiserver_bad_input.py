"""Bad input gets a 4xx Status that names the problem, and changes nothing."""

from __future__ import annotations

import json

import pytest

from berth.declarative.apiserver.codec import MAX_BODY
from tests.apiserver.conftest import pod

pytestmark = pytest.mark.anyio
PODS = "/api/v1/namespaces/default/pods"


def status_of(r, code: int, reason: str | None = None) -> dict:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code
    if reason:
        assert body["reason"] == reason
    return body


async def assert_no_pods(client):
    assert (await client.get(PODS)).json()["items"] == []


@pytest.mark.parametrize("body, ctype", [
    (b'{"metadata": {"name": "x"', "application/json"),
    (b"metadata: [unclosed", "application/yaml"),
    (b"", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"just a string"', "application/json"),
])
async def test_malformed_bodies_are_400(client, body, ctype):
    status_of(await client.post(PODS, content=body, headers={"content-type": ctype}), 400, "BadRequest")
    await assert_no_pods(client)


async def test_yaml_bodies_are_accepted(client):
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: y}\nspec:\n  containers: [{name: c, image: i}]\n"
    r = await client.post(PODS, content=text, headers={"content-type": "application/yaml"})
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "y"


async def test_unknown_media_type_is_415(client):
    status_of(await client.post(PODS, content=b"\x0a\x00", headers={"content-type": "application/vnd.kubernetes"
                                                                                   ".protobuf"}), 415)


async def test_unknown_kind_or_path_is_404(client):
    status_of(await client.post("/api/v1/namespaces/default/widgets", json={}), 404, "NotFound")
    status_of(await client.get("/apis/example.com/v1/things"), 404, "NotFound")
    status_of(await client.get(f"{PODS}/x/bogus"), 404, "NotFound")


async def test_wrong_kind_for_endpoint_is_400(client):
    body = pod("p")
    body["kind"] = "Deployment"
    status_of(await client.post(PODS, json=body), 400, "BadRequest")
    await assert_no_pods(client)


async def test_unknown_fields_strict_is_400_and_warn_drops_them(client):
    body = pod("p")
    body["spec"]["containers"][0]["bogus"] = 1
    body["spec"]["alsoBogus"] = True
    r = await client.post(PODS, json=body, params={"fieldValidation": "Strict"})
    msg = status_of(r, 400, "BadRequest")["message"]
    assert 'unknown field "spec.containers[0].bogus"' in msg and 'unknown field "spec.alsoBogus"' in msg
    await assert_no_pods(client)
    r = await client.post(PODS, json=body)
    assert r.status_code == 201 and "unknown field" in r.headers["warning"]
    assert "bogus" not in r.json()["spec"]["containers"][0]


async def test_wrong_json_types_are_400(client):
    body = pod("p")
    body["spec"]["containers"] = {"name": "c"}
    msg = status_of(await client.post(PODS, json=body), 400)["message"]
    assert "spec.containers" in msg


@pytest.mark.parametrize("name", ["Upper", "under_score", "-lead", "trail-", "a" * 254, "dots..x", ""])
async def test_invalid_names_are_422_with_a_cause(client, name):
    body = status_of(await client.post(PODS, json=pod(name)), 422, "Invalid")
    assert [c["field"] for c in body["details"]["causes"]] == ["metadata.name"]
    await assert_no_pods(client)


@pytest.mark.parametrize("value", ["1Kb", "1.5.5", "abc", "1e", "5Ki1", "-1", "1 k"])
async def test_invalid_quantities_are_422(client, value):
    body = pod("p", container={"resources": {"requests": {"cpu": value}}})
    causes = status_of(await client.post(PODS, json=body), 422, "Invalid")["details"]["causes"]
    assert causes[0]["field"] == "spec.containers[0].resources.requests[cpu]"


@pytest.mark.parametrize("value", ["100m", "1.5Gi", "2e3", "0.5", "1E-3", 2, 0.5])
async def test_valid_quantities_are_accepted(client, value):
    body = pod("p", container={"resources": {"requests": {"cpu": value}}})
    assert (await client.post(PODS, json=body)).status_code == 201


async def test_missing_containers_and_bad_restart_policy_are_422(client):
    body = pod("p", restartPolicy="Sometimes")
    body["spec"]["containers"][0]["image"] = ""
    fields = [c["field"] for c in status_of(await client.post(PODS, json=body), 422)["details"]["causes"]]
    assert fields == ["spec.containers[0].image", "spec.restartPolicy"]
    body = {"metadata": {"name": "p"}, "spec": {}}
    fields = [c["field"] for c in status_of(await client.post(PODS, json=body), 422)["details"]["causes"]]
    assert fields == ["spec.containers"]


async def test_oversized_body_is_413(client):
    big = pod("p")
    big["metadata"]["annotations"] = {"big": "x" * (MAX_BODY + 10)}
    status_of(await client.post(PODS, content=json.dumps(big), headers={"content-type": "application/json"}), 413)
    await assert_no_pods(client)


async def test_bad_query_parameters_are_400(client):
    status_of(await client.get(PODS, params={"limit": "many"}), 400)
    status_of(await client.get(PODS, params={"watch": "1", "resourceVersion": "abc"}), 400)
    status_of(await client.post(PODS, json=pod("p"), params={"fieldValidation": "Loud"}), 400)
    status_of(await client.delete(f"{PODS}/p", params={"propagationPolicy": "Sideways"}), 400)


async def test_bad_patches_are_4xx(client):
    await client.post(PODS, json=pod("p"))
    r = await client.patch(f"{PODS}/p", content=b'{"spec": 1}', headers={"content-type": "application/merge-patch+json"})
    assert 400 <= r.status_code < 500
    r = await client.patch(f"{PODS}/p", content=b'[{"op": "explode", "path": "/x"}]',
                           headers={"content-type": "application/json-patch+json"})
    status_of(r, 422)
    r = await client.patch(f"{PODS}/p", content=b'{"a": 1}', headers={"content-type": "text/plain"})
    status_of(r, 415)


async def test_patch_cannot_move_an_object_to_another_namespace(client):
    await client.post("/api/v1/namespaces", json={"metadata": {"name": "other"}})
    await client.post(PODS, json=pod("p"))
    r = await client.patch(f"{PODS}/p", content=b'{"metadata": {"namespace": "other", "name": "q"}}',
                           headers={"content-type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["metadata"]["namespace"] == "default"
    assert r.json()["metadata"]["name"] == "p"
    assert (await client.get("/api/v1/namespaces/other/pods/p")).status_code == 404


async def test_unencodable_values_are_400_and_change_nothing(client):
    deep: dict = {}
    node = deep
    for _ in range(300):
        node["x"] = {}
        node = node["x"]
    body = {"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                                                 "strategy": {"rollingUpdate": {"maxSurge": deep}},
                                                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
                                                     "containers": [{"name": "c", "image": "i"}]}}}}
    r = await client.post("/apis/apps/v1/namespaces/default/deployments", content=json.dumps(body),
                          headers={"content-type": "application/json"})
    status_of(r, 400)
    yaml_big = "metadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n  priority: 123456789012345678901234567890\n"
    status_of(await client.post(PODS, content=yaml_big, headers={"content-type": "application/yaml"}), 400)
    await assert_no_pods(client)
