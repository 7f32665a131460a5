"""Out-of-range numbers and unparsable times are refused as upstream refuses them, and nothing is stored.

An integer past its field's OpenAPI width (int32 or int64) or a time that is not RFC 3339 cannot be decoded:
400 BadRequest, as upstream's JSON decoder answers. Values that decode but break a rule (a negative grace
period, an activeDeadlineSeconds below 1, a quantity whose thousandths overflow an int64) are 422 Invalid.
"""

from __future__ import annotations

import pytest

from berth.declarative.apiserver.openapi import document
from tests.apiserver.conftest import deployment, pod

pytestmark = pytest.mark.anyio
PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
REPLICASETS = "/apis/apps/v1/namespaces/default/replicasets"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
BIG = (2**31, 2**63)


def refused(r, code: int, *words: str) -> dict:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["code"] == code
    for word in words:
        assert word in body["message"], body["message"]
    return body


def replicaset(name: str, replicas: int) -> dict:
    body = deployment(name, replicas)
    body["kind"] = "ReplicaSet"
    return body


@pytest.mark.parametrize("replicas", BIG)
@pytest.mark.parametrize("url, make", [(DEPLOYS, deployment), (REPLICASETS, replicaset)])
async def test_replicas_past_int32_are_refused(client, url, make, replicas):
    refused(await client.post(url, json=make("big", replicas)), 400, "spec.replicas", "int32")
    assert (await client.get(url)).json()["items"] == []


async def test_int32_max_replicas_decode(client):
    """The bound itself is a valid int32 (the create may succeed; it must not be refused as undecodable)."""
    r = await client.post(DEPLOYS, json=deployment("edge", 2**31 - 1), params={"dryRun": "All"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("replicas", BIG)
async def test_scale_subresource_refuses_replicas_past_int32(client, replicas):
    assert (await client.post(DEPLOYS, json=deployment("web", 1))).status_code == 201
    scale = (await client.get(f"{DEPLOYS}/web/scale")).json()
    scale["spec"]["replicas"] = replicas
    refused(await client.put(f"{DEPLOYS}/web/scale", json=scale), 400, "spec.replicas", "int32")
    patch = {"spec": {"replicas": replicas}}
    r = await client.patch(f"{DEPLOYS}/web/scale", json=patch,
                           headers={"content-type": "application/merge-patch+json"})
    refused(r, 400, "int32")
    assert (await client.get(f"{DEPLOYS}/web")).json()["spec"]["replicas"] == 1


@pytest.mark.parametrize("field, value, code, words", [
    ("terminationGracePeriodSeconds", 2**63, 400, ("terminationGracePeriodSeconds", "int64")),
    ("terminationGracePeriodSeconds", -1, 422, ("terminationGracePeriodSeconds", "greater than or equal to 0")),
    ("priority", 2**31, 400, ("spec.priority", "int32")),
    ("activeDeadlineSeconds", -5, 422, ("activeDeadlineSeconds", "between 1 and 2147483647")),
    ("activeDeadlineSeconds", 0, 422, ("activeDeadlineSeconds",)),
    ("activeDeadlineSeconds", 2**31, 422, ("activeDeadlineSeconds",)),
])
async def test_pod_spec_numbers_out_of_range(client, field, value, code, words):
    refused(await client.post(PODS, json=pod("p", **{field: value})), code, *words)
    assert (await client.get(PODS)).json()["items"] == []


async def test_pod_template_numbers_are_checked_too(client):
    body = deployment("d", 1)
    body["spec"]["template"]["spec"]["activeDeadlineSeconds"] = -5
    refused(await client.post(DEPLOYS, json=body), 422, "spec.template.spec.activeDeadlineSeconds")


@pytest.mark.parametrize("cpu", ["1e308", "9223372036854776", "-1e308", "8Ei"])
async def test_quantities_whose_thousandths_overflow_are_refused(client, cpu):
    body = pod("p", container={"resources": {"requests": {"cpu": cpu}}})
    refused(await client.post(PODS, json=body), 422, "spec.containers[0].resources.requests[cpu]")


async def test_memory_past_int64_bytes_is_refused(client):
    body = pod("p", container={"resources": {"limits": {"memory": "1e19"}}})
    refused(await client.post(PODS, json=body), 422, "spec.containers[0].resources.limits[memory]")


async def test_large_quantity_that_fits_is_kept(client):
    body = pod("p", container={"resources": {"limits": {"memory": "1Ei"}, "requests": {"cpu": "1e15"}}})
    assert (await client.post(PODS, json=body)).status_code == 201


def lease(**spec) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "n1", **spec}}


@pytest.mark.parametrize("spec, words", [
    ({"renewTime": "not-a-time"}, ("spec.renewTime", "RFC 3339")),
    ({"acquireTime": "not-a-time"}, ("spec.acquireTime",)),
    ({"renewTime": "2024-13-01T00:00:00.000000Z"}, ("spec.renewTime",)),
    ({"renewTime": "2024-05-01 12:00:00"}, ("spec.renewTime",)),
    ({"leaseDurationSeconds": 2**31}, ("spec.leaseDurationSeconds", "int32")),
    ({"leaseTransitions": -2**31 - 1}, ("spec.leaseTransitions", "int32")),
])
async def test_lease_times_parse_and_durations_are_int32(client, spec, words):
    refused(await client.post(LEASES, json=lease(**spec)), 400, *words)
    assert (await client.get(LEASES)).json()["items"] == []


@pytest.mark.parametrize("stamp", ["2024-05-01T12:00:07.250000Z", "2024-05-01T12:00:07Z",
                                   "2024-05-01T12:00:07.123456789+02:00"])
async def test_valid_times_are_accepted(client, stamp):
    r = await client.post(LEASES, json=lease(renewTime=stamp, acquireTime=stamp, leaseDurationSeconds=40))
    assert r.status_code == 201, r.text


async def test_status_times_are_checked(client):
    assert (await client.post(PODS, json=pod("p"))).status_code == 201
    current = (await client.get(f"{PODS}/p")).json()
    current["status"]["startTime"] = "yesterday"
    refused(await client.put(f"{PODS}/p/status", json=current), 400, "status.startTime")


def test_openapi_serves_the_integer_widths():
    schemas = document("apis/apps/v1")["components"]["schemas"]
    assert schemas["V1DeploymentSpec"]["properties"]["replicas"]["format"] == "int32"
    assert schemas["V1DeploymentSpec"]["properties"]["replicas"]["type"] == "integer"
    pod_spec = document("api/v1")["components"]["schemas"]["V1PodSpec"]["properties"]
    assert pod_spec["terminationGracePeriodSeconds"]["format"] == "int64"
    assert pod_spec["priority"]["format"] == "int32"
