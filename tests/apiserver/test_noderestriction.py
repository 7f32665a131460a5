"""What a node's credential may do: the node authorizer and the admission checks, as tables over a memory store."""

from __future__ import annotations

import orjson
import pytest

from berth.declarative.apiserver.access import Attributes, User, Verdict
from berth.declarative.apiserver.gate import forbidden
from berth.declarative.apiserver.noderestriction import NodeAuthorizer, admit_create, admit_token_request
from berth.declarative.names import LEASE_NAMESPACE
from berth.store import MemoryStore

N1 = User("system:node:n1", groups=("system:nodes",))
LEASE = "coordination.k8s.io"


def pod(name: str, node: str = "", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
            "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x"}], **spec}}


@pytest.fixture
def authorizer() -> NodeAuthorizer:
    store = MemoryStore()
    for obj in (pod("mine", "n1", serviceAccountName="builder",
                    volumes=[{"name": "v", "secret": {"secretName": "mine-secret"}}]),
                pod("theirs", "n2", volumes=[{"name": "v", "secret": {"secretName": "their-secret"}}]),
                pod("pending")):
        store.create(f"/pods/default/{obj['metadata']['name']}", orjson.dumps(obj))
    return NodeAuthorizer(store)


def res(verb: str, resource: str, name: str = "", namespace: str = "", sub: str = "", group: str = "") -> Attributes:
    return Attributes(verb, True, api_group=group, resource=resource, subresource=sub, namespace=namespace, name=name)


ALLOWED = [
    res("get", "nodes", "n2"), res("list", "nodes"), res("watch", "nodes"),
    res("create", "nodes"), res("create", "nodes", "n1"), res("patch", "nodes", "n1"), res("update", "nodes", "n1"),
    res("patch", "nodes", "n1", sub="status"), res("update", "nodes", "n1", sub="status"),
    res("list", "pods"), res("watch", "pods", namespace="default"), res("get", "pods", "theirs", "default"),
    res("patch", "pods", "mine", "default", "status"), res("update", "pods", "mine", "default", "status"),
    res("delete", "pods", "mine", "default"), res("create", "pods", "mine", "default", "eviction"),
    res("delete", "pods", "gone", "default"),  # no such pod: the handler answers 404, as upstream's admission
    res("patch", "pods", "gone", "default", "status"),
    res("list", "namespaces"), res("get", "services", "s", "default"), res("watch", "endpoints"),
    res("create", "leases", namespace=LEASE_NAMESPACE, group=LEASE),
    res("update", "leases", "n1", LEASE_NAMESPACE, group=LEASE), res("patch", "leases", "n1", LEASE_NAMESPACE, group=LEASE),
    res("get", "leases", "n2", LEASE_NAMESPACE, group=LEASE), res("delete", "leases", "n1", LEASE_NAMESPACE, group=LEASE),
    res("create", "events", namespace="default"), res("patch", "events", "e", "default"),
    res("create", "events", namespace="default", group="events.k8s.io"),
    res("create", "serviceaccounts", "builder", "default", "token"),
    res("get", "secrets", "mine-secret", "default"),
    res("create", "selfsubjectreviews", group="authentication.k8s.io"),
    res("create", "selfsubjectaccessreviews", group="authorization.k8s.io"),
    Attributes("get", False, path="/api"), Attributes("get", False, path="/apis/apps/v1"),
    Attributes("get", False, path="/openapi/v3"), Attributes("get", False, path="/version"),
]

DENIED = [
    (res("patch", "nodes", "n2"), 'node "n1" is not allowed to modify node "n2"'),
    (res("update", "nodes", "n2"), 'node "n1" is not allowed to modify node "n2"'),
    (res("patch", "nodes", "n2", sub="status"), 'node "n1" is not allowed to modify node "n2"'),
    (res("create", "nodes", "n2"), 'node "n1" is not allowed to modify node "n2"'),
    (res("delete", "nodes", "n1"), "never delete"),
    (res("delete", "nodes", "n2"), "never delete"),
    (res("deletecollection", "nodes"), "never deletecollection"),
    (res("patch", "pods", "theirs", "default", "status"),
     'node "n1" can only update pod status for pods with spec.nodeName set to itself'),
    (res("patch", "pods", "pending", "default", "status"), "spec.nodeName set to itself"),
    (res("delete", "pods", "theirs", "default"), 'node "n1" can only delete pods with spec.nodeName set to itself'),
    (res("delete", "pods", "pending", "default"), "can only delete pods with spec.nodeName set to itself"),
    (res("create", "pods", "theirs", "default", "eviction"), "can only evict pods with spec.nodeName set to itself"),
    (res("deletecollection", "pods", namespace="default"), "mirror pods"),
    (res("create", "pods", namespace="default"), 'node "n1" can only create mirror pods'),
    (res("patch", "pods", "mine", "default"), 'unexpected operation "patch"'),
    (res("create", "pods", "mine", "default", "binding"), "pods/binding"),
    (res("get", "pods", "mine", "default", "log"), "pods/log"),
    (res("update", "leases", "n2", LEASE_NAMESPACE, group=LEASE),
     "can only access node lease with the same name as the requesting node"),
    (res("delete", "leases", "n2", LEASE_NAMESPACE, group=LEASE), "same name as the requesting node"),
    (res("create", "leases", "n2", LEASE_NAMESPACE, group=LEASE), "same name as the requesting node"),
    (res("update", "leases", "n1", "kube-system", group=LEASE),
     'can only access leases in the "kube-node-lease" system namespace'),
    (res("deletecollection", "leases", namespace=LEASE_NAMESPACE, group=LEASE), "can only get, create, update"),
    (res("delete", "events", "e", "default"), "can only create and patch events"),
    (res("delete", "namespaces", "default"), "can only read namespaces"),
    (res("get", "secrets", "their-secret", "default"), "no relationship found between node 'n1' and this object"),
    (res("get", "secrets", "mine-secret", "kube-system"), "no relationship found"),
    (res("list", "secrets", namespace="default"), "can only read namespaced object of this type"),
    (res("create", "secrets", namespace="default"), "can only read resources of this type"),
    (res("get", "serviceaccounts", "builder", "default"), "serviceaccounts"),
    (res("create", "serviceaccounts", "", "default", "token"), "can only create tokens for individual service accounts"),
    (res("create", "deployments", namespace="default", group="apps"), 'node "n1" has no access to deployments.apps'),
    (res("get", "clusterroles", "admin", group="rbac.authorization.k8s.io"), "clusterroles"),
    (Attributes("post", False, path="/api"), "discovery"),
    (Attributes("get", False, path="/debug/pprof"), "discovery"),
]


@pytest.mark.parametrize("attrs", ALLOWED, ids=lambda a: f"{a.verb}-{a.resource or a.path}-{a.subresource}-{a.name}")
def test_node_may(authorizer, attrs):
    assert authorizer.authorize(N1, attrs).verdict is Verdict.ALLOW


@pytest.mark.parametrize("attrs,reason", DENIED, ids=lambda a: f"{a.verb}-{a.resource or a.path}-{a.subresource}-{a.name}"
                         if isinstance(a, Attributes) else "")
def test_node_may_not(authorizer, attrs, reason):
    decision = authorizer.authorize(N1, attrs)
    assert decision.verdict is Verdict.DENY
    assert reason in decision.reason


MIRROR = 'pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods'
WORDED = [
    (res("patch", "nodes", "n2"), 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
    (res("update", "nodes", "n2", sub="status"), 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
    (res("create", "nodes", "n2"), 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'),
    (res("patch", "pods", "theirs", "default", "status"),
     'pods "theirs" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself'),
    (res("delete", "pods", "pending", "default"),
     'pods "pending" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself'),
    (res("create", "pods", "theirs", "default", "eviction"),
     'pods "theirs" is forbidden: node n1 can only evict pods with spec.nodeName set to itself'),
    (res("create", "pods", namespace="default"), f"pods is forbidden: {MIRROR}"),
    (res("delete", "nodes", "n1"), 'nodes "n1" is forbidden: User "system:node:n1" cannot delete resource "nodes" in'
                                   ' API group "" at the cluster scope: node "n1" can only create, update and patch'
                                   ' its own Node, never delete one'),
    (res("update", "leases", "n2", LEASE_NAMESPACE, group=LEASE),
     'leases.coordination.k8s.io "n2" is forbidden: User "system:node:n1" cannot update resource "leases" in API'
     ' group "coordination.k8s.io" in the namespace "kube-node-lease": can only access node lease with the same'
     ' name as the requesting node'),
    (res("get", "secrets", "their-secret", "default"), 'secrets "their-secret" is forbidden: User "system:node:n1"'
     ' cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between'
     " node 'n1' and this object"),
]


@pytest.mark.parametrize("attrs,message", WORDED, ids=lambda a: f"{a.verb}-{a.resource}-{a.subresource}-{a.name}"
                         if isinstance(a, Attributes) else "")
def test_403_wording_is_upstreams_admission_or_authorizer(authorizer, attrs, message):
    """Refusals upstream makes in NodeRestriction read as that plugin's; the authorizer's keep 'User ... cannot'."""
    decision = authorizer.authorize(N1, attrs)
    assert forbidden(N1, attrs, decision.reason, decision.admission).message == message


@pytest.mark.parametrize("user", [User("alice"), User("system:node:n1"), User("n1", groups=("system:nodes",)),
                                  User("system:kube-scheduler", groups=("system:nodes-like",))])
def test_no_opinion_for_everyone_else(authorizer, user):
    for attrs in ALLOWED[:3] + [d[0] for d in DENIED[:3]]:
        assert authorizer.authorize(user, attrs).verdict is Verdict.NO_OPINION


def test_unnamed_node_is_denied(authorizer):
    decision = authorizer.authorize(User("system:node:", groups=("system:nodes",)), res("get", "nodes", "n1"))
    assert decision.verdict is Verdict.DENY and "unknown node" in decision.reason


def test_binding_is_read_from_the_current_object(authorizer):
    """A pod rebound (or bound later) is judged by its stored spec.nodeName now, not by a stale memo."""
    attrs = res("patch", "pods", "pending", "default", "status")
    assert authorizer.authorize(N1, attrs).verdict is Verdict.DENY
    record = authorizer.store.get("/pods/default/pending")
    authorizer.store.update(record.key, orjson.dumps(pod("pending", "n1")), expect=record.mod_revision)
    assert authorizer.authorize(N1, attrs).verdict is Verdict.ALLOW


@pytest.mark.parametrize("plural,name,allowed", [("nodes", "n1", True), ("nodes", "n2", False), ("nodes", "", False),
                                                ("leases", "n1", True), ("leases", "n2", False),
                                                ("events", "anything", True), ("pods", "whatever", True)])
def test_admit_create_needs_own_name(plural, name, allowed):
    problem = admit_create(N1, plural, {"metadata": {"name": name}})
    assert (problem is None) is allowed
    if not allowed:
        assert problem.code == 403 and problem.reason == "Forbidden"
        assert problem.message.startswith(f'{plural if plural == "nodes" else "leases.coordination.k8s.io"} "{name}"'
                                          f" is forbidden: ")
    assert admit_create(User("admin", groups=("system:masters",)), plural, {"metadata": {"name": name}}) is None


def test_admit_create_node_wording():
    problem = admit_create(N1, "nodes", {"metadata": {"name": "n2"}})
    assert problem.message == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'


def token_request(name: str | None, uid: str | None = None, kind: str = "Pod") -> dict:
    ref = {"kind": kind, "apiVersion": "v1", **({"name": name} if name else {}), **({"uid": uid} if uid else {})}
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"boundObjectRef": ref}}


@pytest.mark.parametrize("account,request_body,code,reason", [
    ("builder", token_request("mine", "uid-mine"), None, ""),
    ("default", token_request("mine", "uid-mine"), 403, "another service account"),
    ("default", token_request("theirs", "uid-theirs"), 403, "node requested token bound to a pod scheduled on a"
                                                             " different node"),
    ("default", token_request("pending", "uid-pending"), 403, "scheduled on a different node"),
    ("builder", token_request("mine", "uid-old"), 403, "does not match the UID in record"),
    ("builder", token_request("mine"), 403, "node requested token with a pod binding without a uid"),
    ("builder", token_request(None), 403, "node requested token not bound to a pod"),
    ("builder", token_request("mine", "uid-mine", kind="Secret"), 403, "not bound to a pod"),
    ("builder", {"spec": {}}, 403, "not bound to a pod"),
    ("builder", token_request("nobody", "uid-x"), 404, 'pods "nobody" not found'),
])
def test_admit_token_request(authorizer, account, request_body, code, reason):
    problem = admit_token_request(N1, authorizer.store, "default", account, request_body)
    assert (problem and problem.code) == code
    if problem:
        assert reason in problem.message
    assert admit_token_request(User("alice"), authorizer.store, "default", account, request_body) is None
