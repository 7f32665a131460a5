"""The request gate's pure parts: request attributes as upstream's RequestInfo, and upstream's 403 wording."""

from __future__ import annotations

import pytest

from berth.declarative.apiserver.access import Attributes, User
from berth.declarative.apiserver.gate import attributes, forbidden

BOB = User("bob")


@pytest.mark.parametrize("method, path, query, want", [
    ("GET", "/api/v1/namespaces/default/pods", b"", ("list", "", "pods", "", "default", "")),
    ("GET", "/api/v1/namespaces/default/pods", b"watch=true", ("watch", "", "pods", "", "default", "")),
    ("GET", "/api/v1/pods", b"watch=1&fieldSelector=metadata.name%3Dp", ("watch", "", "pods", "", "", "p")),
    ("GET", "/api/v1/namespaces/default/pods/p", b"", ("get", "", "pods", "", "default", "p")),
    ("GET", "/api/v1/namespaces/default/pods/p/log", b"", ("get", "", "pods", "log", "default", "p")),
    ("POST", "/api/v1/namespaces/default/pods", b"", ("create", "", "pods", "", "default", "")),
    ("POST", "/api/v1/namespaces/default/pods/p/binding", b"", ("create", "", "pods", "binding", "default", "p")),
    ("PUT", "/apis/apps/v1/namespaces/ns/deployments/d/scale", b"", ("update", "apps", "deployments", "scale",
                                                                    "ns", "d")),
    ("PATCH", "/api/v1/nodes/n1/status", b"", ("patch", "", "nodes", "status", "", "n1")),
    ("DELETE", "/api/v1/namespaces/default/pods/p", b"", ("delete", "", "pods", "", "default", "p")),
    ("DELETE", "/api/v1/nodes", b"", ("deletecollection", "", "nodes", "", "", "")),
    ("GET", "/api/v1/namespaces", b"", ("list", "", "namespaces", "", "", "")),
    ("GET", "/api/v1/namespaces/kube-system", b"", ("get", "", "namespaces", "", "kube-system", "kube-system")),
    ("PUT", "/api/v1/namespaces/x/finalize", b"", ("update", "", "namespaces", "finalize", "x", "x")),
])
def test_resource_attributes(method, path, query, want):
    attrs = attributes(method, path, query)
    assert attrs.resource_request
    assert (attrs.verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.namespace, attrs.name) == want


@pytest.mark.parametrize("path", ["/apis", "/api", "/apis/apps", "/openapi/v3", "/version", "/"])
def test_non_resource_attributes(path):
    assert attributes("GET", path, b"") == Attributes("get", False, path=path)


@pytest.mark.parametrize("method, path, message", [
    ("DELETE", "/api/v1/namespaces/default/pods/x", 'pods "x" is forbidden: User "bob" cannot delete resource'
                                                    ' "pods" in API group "" in the namespace "default"'),
    ("GET", "/api/v1/pods", 'pods is forbidden: User "bob" cannot list resource "pods" in API group "" at the'
                            ' cluster scope'),
    ("GET", "/api/v1/namespaces/default/pods/x/log", 'pods "x" is forbidden: User "bob" cannot get resource'
                                                     ' "pods/log" in API group "" in the namespace "default"'),
    ("DELETE", "/apis/apps/v1/namespaces/ns/deployments", 'deployments.apps is forbidden: User "bob" cannot'
                                                          ' deletecollection resource "deployments" in API group'
                                                          ' "apps" in the namespace "ns"'),
    ("DELETE", "/api/v1/nodes/n1", 'nodes "n1" is forbidden: User "bob" cannot delete resource "nodes" in API'
                                   ' group "" at the cluster scope'),
    ("GET", "/apis", 'forbidden: User "bob" cannot get path "/apis"'),
])
def test_forbidden_wording_is_upstreams(method, path, message):
    problem = forbidden(BOB, attributes(method, path, b""))
    assert (problem.code, problem.reason, problem.message) == (403, "Forbidden", message)


def test_forbidden_appends_an_authorizers_reason_but_not_the_chains_fallback():
    attrs = attributes("GET", "/api/v1/namespaces/default/pods/x", b"")
    assert forbidden(BOB, attrs, "no relationship found").message.endswith('"default": no relationship found')
    assert forbidden(BOB, attrs, "no authorizer allowed it").message.endswith('"default"')


def test_an_admission_refusal_is_the_whole_reason():
    """A denial upstream makes in an admission plugin: '<resource> "<name>" is forbidden: <reason>', no 'User'."""
    attrs = attributes("PATCH", "/api/v1/nodes/n2/status", b"")
    problem = forbidden(BOB, attrs, 'node "n1" is not allowed to modify node "n2"', admission=True)
    assert problem.message == 'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
    assert problem.details == {"name": "n2", "kind": "nodes"}
    attrs = attributes("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", b"")
    assert forbidden(BOB, attrs, "r", admission=True).message == "leases.coordination.k8s.io is forbidden: r"
