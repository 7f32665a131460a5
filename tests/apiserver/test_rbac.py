"""RBAC decisions as tables: upstream's documented rule semantics, binding scopes and subjects."""

from __future__ import annotations

import pytest

from berth.declarative.apiserver.access import AUTHENTICATED, Attributes, User, Verdict
from berth.declarative.apiserver.rbac import Policy, RBACAuthorizer, Rule

G = "rbac.authorization.k8s.io"


def res(verb, resource, ns="", name="", group="", sub=""):
    return Attributes(verb, True, api_group=group, resource=resource, subresource=sub, namespace=ns, name=name)


def url(verb, path):
    return Attributes(verb, False, path=path)


RULE_CASES = [
    # (rule, attributes, allowed)
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("get", "pods", "a"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("list", "pods", "a"), False),
    ({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}, res("delete", "pods", "a", "p"), True),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["deployments"]}, res("get", "deployments", group="apps"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["deployments"]}, res("get", "deployments", group="apps"),
     False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["*"]}, res("get", "pods", sub="log"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, res("get", "pods", sub="log"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, res("get", "pods", sub="log"), True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}, res("get", "pods"), False),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*/scale"]}, res("get", "deployments", group="apps",
                                                                          sub="scale"), True),
    ({"verbs": ["get"], "apiGroups": ["*"], "resources": ["*/scale"]}, res("get", "deployments", group="apps"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"]}, res("get", "pods", "a", "x"),
     True),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"]}, res("get", "pods", "a", "y"),
     False),
    ({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"]}, res("list", "pods", "a"),
     False),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("get", "/healthz/etcd"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz*"]}, url("get", "/healthz/etcd"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]}, url("get", "/apis/apps/v1"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, url("get", "/anything"), True),
    ({"verbs": ["get"], "nonResourceURLs": ["/healthz"]}, url("post", "/healthz"), False),
    ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, url("get", "/pods"), False),
    ({"verbs": ["get"], "nonResourceURLs": ["*"]}, res("get", "pods"), False),
]


@pytest.mark.parametrize("raw,attrs,allowed", RULE_CASES)
def test_rule_matching(raw, attrs, allowed):
    assert Rule.of(raw).allows(attrs) is allowed


def role(name, rules, ns=None, kind="Role"):
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {"kind": kind, "metadata": meta, "rules": rules}


def binding(name, ref_kind, ref_name, subjects, ns=None):
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {"metadata": meta, "roleRef": {"apiGroup": G, "kind": ref_kind, "name": ref_name}, "subjects": subjects}


def user(name):
    return {"kind": "User", "apiGroup": G, "name": name}


READ_PODS = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
POLICY = Policy(
    roles=[role("reader", READ_PODS, "team"), role("other", READ_PODS, "elsewhere")],
    clusterroles=[role("pod-reader", READ_PODS, kind="ClusterRole"),
                  role("health", [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}], kind="ClusterRole")],
    rolebindings=[binding("rb", "Role", "reader", [user("alice")], "team"),
                  binding("cross", "Role", "other", [user("alice")], "team"),  # a Role of another namespace
                  binding("crb-in-ns", "ClusterRole", "pod-reader", [user("bob")], "team"),
                  binding("sa", "ClusterRole", "pod-reader", [{"kind": "ServiceAccount", "name": "bot"}], "team"),
                  binding("ns-health", "ClusterRole", "health", [user("bob")], "team")],
    clusterrolebindings=[binding("everyone-health", "ClusterRole", "health",
                                 [{"kind": "Group", "apiGroup": G, "name": AUTHENTICATED}]),
                         binding("ops", "ClusterRole", "pod-reader",
                                 [{"kind": "Group", "apiGroup": G, "name": "ops"},
                                  {"kind": "ServiceAccount", "name": "robot", "namespace": "infra"}]),
                         binding("missing", "ClusterRole", "no-such-role", [user("carol")])],
)

BINDING_CASES = [
    # (user, groups, attributes, allowed)
    ("alice", (), res("get", "pods", "team", "p"), True),
    ("alice", (), res("get", "pods", "elsewhere", "p"), False),  # a RoleBinding grants only in its namespace
    ("alice", (), res("list", "pods"), False),  # ... and never cluster-wide
    ("bob", (), res("list", "pods", "team"), True),  # a ClusterRole through a RoleBinding: that namespace only
    ("bob", (), res("list", "pods", "default"), False),
    ("bob", (), url("get", "/healthz"), False),  # non-resource rules only through ClusterRoleBindings
    ("dave", ("ops",), res("list", "pods"), True),  # a ClusterRoleBinding grants everywhere
    ("dave", ("ops",), res("get", "pods", "any", "p"), True),
    ("dave", ("ops",), res("delete", "pods", "any", "p"), False),
    ("system:serviceaccount:team:bot", (), res("get", "pods", "team", "p"), True),  # SA namespace from binding
    ("system:serviceaccount:other:bot", (), res("get", "pods", "team", "p"), False),
    ("system:serviceaccount:infra:robot", (), res("list", "pods"), True),
    ("carol", (), res("get", "pods", "team", "p"), False),  # a binding to a missing role grants nothing
    ("eve", (AUTHENTICATED,), url("get", "/healthz"), True),
    ("eve", (), url("get", "/healthz"), False),
]


@pytest.mark.parametrize("name,groups,attrs,allowed", BINDING_CASES)
def test_binding_scopes_and_subjects(name, groups, attrs, allowed):
    assert (POLICY.decide(name, groups, attrs).verdict is Verdict.ALLOW) is allowed


def test_reason_names_binding_role_and_subject():
    assert POLICY.decide("alice", (), res("get", "pods", "team")).reason == \
        'RBAC: allowed by RoleBinding "rb/team" of Role "reader" to User "alice"'
    assert POLICY.decide("x", ("ops",), res("get", "pods")).reason == \
        'RBAC: allowed by ClusterRoleBinding "ops" of ClusterRole "pod-reader" to Group "ops"'
    assert POLICY.decide("system:serviceaccount:infra:robot", (), res("get", "pods")).reason == \
        'RBAC: allowed by ClusterRoleBinding "ops" of ClusterRole "pod-reader" to ServiceAccount "robot/infra"'
    assert POLICY.decide("nobody", (), res("get", "pods")).verdict is Verdict.NO_OPINION
