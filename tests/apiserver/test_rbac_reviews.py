"""SelfSubjectAccessReview and SelfSubjectRulesReview in process: the answer is the chain's own decision for
the asking user, and the rules are those of the user's bindings in the namespace."""

from __future__ import annotations

import httpx
import pytest

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.access import Chain
from berth.declarative.apiserver.authn import TokenFile
from berth.declarative.apiserver.bootstrap import ensure_defaults
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.protobuf import decode_review
from berth.declarative.apiserver.rbac import RBACAuthorizer
from berth.store import MemoryStore

G = "rbac.authorization.k8s.io"
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
VIC = {"authorization": "Bearer vic-token-0123456789"}
ROOT = {"authorization": "Bearer root-token-0123456789"}
pytestmark = pytest.mark.anyio


@pytest.fixture
def app():
    store = MemoryStore()
    tokens = TokenFile([["vic-token-0123456789", "vic", "1"], ["root-token-0123456789", "root", "2", "system:masters"]])
    app = create_app(store, access=Chain([tokens], [RBACAuthorizer(store)]))
    ensure_defaults(app.api.registry)
    app.api.registry.create(BY_PLURAL["rolebindings"], "default", {
        "metadata": {"name": "v"}, "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "apiGroup": G, "name": "vic"}]})
    return app


def review(verb, resource, ns="default", sub=""):
    attrs = {"verb": verb, "resource": resource, "namespace": ns, "subresource": sub}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs}}


@pytest.mark.parametrize("headers,verb,ns,allowed,reason", [
    (VIC, "get", "default", True, 'RBAC: allowed by RoleBinding "v/default" of ClusterRole "view" to User "vic"'),
    (VIC, "delete", "default", False, None),
    (VIC, "get", "kube-system", False, None),
    (ROOT, "delete", "kube-system", True, None),
])
async def test_access_review_answers_for_the_asking_user(client, headers, verb, ns, allowed, reason):
    answer = await client.post(SSAR, json=review(verb, "pods", ns), headers=headers)
    assert answer.status_code == 201, answer.text
    status = answer.json()["status"]
    assert status["allowed"] is allowed and status.get("reason") == reason
    assert answer.json()["spec"]["resourceAttributes"]["verb"] == verb


async def test_access_review_needs_exactly_one_kind_of_attributes(client):
    answer = await client.post(SSAR, json={"spec": {}}, headers=VIC)
    assert answer.status_code == 422 and "exactly one of" in answer.json()["message"]


async def test_non_resource_review(client):
    body = {"spec": {"nonResourceAttributes": {"verb": "get", "path": "/version"}}}
    assert (await client.post(SSAR, json=body, headers=VIC)).json()["status"]["allowed"] is True


async def test_rules_review_lists_the_namespace_rules(client):
    answer = await client.post(SSRR, json={"spec": {"namespace": "default"}}, headers=VIC)
    status = answer.json()["status"]
    assert any("pods" in r["resources"] and "get" in r["verbs"] for r in status["resourceRules"])
    assert any("/version" in r["nonResourceURLs"] for r in status["nonResourceRules"])
    assert status["incomplete"] is False
    elsewhere = (await client.post(SSRR, json={"spec": {"namespace": "kube-system"}}, headers=VIC)).json()
    assert not any("pods" in r["resources"] for r in elsewhere["status"]["resourceRules"])


def _field(number: int, value: bytes) -> bytes:
    return bytes([number << 3 | 2, len(value)]) + value


def test_protobuf_review_body_decodes_as_its_json_form():
    attrs = _field(1, b"team") + _field(2, b"get") + _field(5, b"pods") + _field(6, b"log")
    message = _field(2, _field(1, attrs))
    type_meta = _field(1, b"authorization.k8s.io/v1") + _field(2, b"SelfSubjectAccessReview")
    raw = b"k8s\x00" + _field(1, type_meta) + _field(2, message) + _field(4, b"application/vnd.kubernetes.protobuf")
    assert decode_review(raw, "application/vnd.kubernetes.protobuf") == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods", "subresource": "log"}}}
    assert decode_review(b"k8s\x00\x12\xff", "application/vnd.kubernetes.protobuf").code == 400
