"""RBAC objects through the registry: upstream's validation, an immutable roleRef, and an authorizer that sees
every change to the policy at once (no stale memoised decision)."""

from __future__ import annotations

import pytest

from berth.declarative.apiserver.access import Attributes, User, Verdict
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.rbac import RBACAuthorizer
from berth.declarative.apiserver.registry import Registry
from berth.declarative.apiserver.status import Problem
from berth.declarative.apiserver.tables import to_table
from berth.store import MemoryStore

G = "rbac.authorization.k8s.io"
ROLES, CROLES, RBS, CRBS = (BY_PLURAL[p] for p in ("roles", "clusterroles", "rolebindings", "clusterrolebindings"))
READ = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}


@pytest.fixture
def reg():
    return Registry(MemoryStore())


def causes(result) -> list[str]:
    assert isinstance(result, Problem) and result.code == 422, result
    return [f'{c["field"]}: {c["message"]}' for c in result.details["causes"]]


def ref(kind="ClusterRole", name="view"):
    return {"apiGroup": G, "kind": kind, "name": name}


INVALID = [
    (ROLES, {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"]}]},
     ["rules[0].verbs: Required value: verbs must contain at least one value"]),
    (ROLES, {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"]}]},
     ["rules[0].nonResourceURLs: Invalid value: ['/x']: namespaced rules cannot apply to non-resource URLs"]),
    (CROLES, {"metadata": {"name": "c"}, "rules": [{"verbs": ["get"], "resources": ["pods"], "nonResourceURLs": ["/x"]}]},
     ["rules[0].nonResourceURLs: Invalid value: ['/x']: rules cannot apply to both regular resources and"
      " non-resource URLs"]),
    (CROLES, {"metadata": {"name": "c"}, "rules": [{"verbs": ["get"], "resources": ["pods"]}]},
     ["rules[0].apiGroups: Required value: resource rules must supply at least one api group"]),
    (CROLES, {"metadata": {"name": "a/b"}}, ["metadata.name: Invalid value: \"a/b\": may not contain '/'"]),
    (RBS, {"metadata": {"name": "b"}, "subjects": []},
     ['roleRef.apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"',
      'roleRef.kind: Unsupported value: "": supported values: "Role", "ClusterRole"',
      "roleRef.name: Required value"]),
    (CRBS, {"metadata": {"name": "b"}, "roleRef": ref("Role", "x")},
     ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']),
    (RBS, {"metadata": {"name": "b"}, "roleRef": ref(), "subjects": [{"kind": "Robot", "name": "r"}]},
     ['subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']),
    (CRBS, {"metadata": {"name": "b"}, "roleRef": ref(), "subjects": [{"kind": "ServiceAccount", "name": "s"}]},
     ["subjects[0].namespace: Required value"]),
]


@pytest.mark.parametrize("spec,obj,expected", INVALID)
def test_invalid_objects_get_upstreams_causes(reg, spec, obj, expected):
    assert causes(reg.create(spec, "default" if spec.namespaced else "", obj)) == expected


def test_colon_names_and_valid_objects_are_accepted(reg):
    assert not isinstance(reg.create(CROLES, "", {"metadata": {"name": "system:node"}, "rules": [READ]}), Problem)
    sa = {"kind": "ServiceAccount", "name": "bot"}  # a RoleBinding's ServiceAccount may omit its namespace
    assert not isinstance(reg.create(RBS, "default", {"metadata": {"name": "b"}, "roleRef": ref(),
                                                      "subjects": [sa]}), Problem)


def test_role_ref_is_immutable(reg):
    obj, _ = reg.create(RBS, "default", {"metadata": {"name": "b"}, "roleRef": ref()})
    changed = dict(obj, roleRef=ref(name="edit"))
    assert causes(reg.update(RBS, "default", "b", changed))[0].endswith("cannot change roleRef")
    same = dict(obj, subjects=[{"kind": "User", "apiGroup": G, "name": "u"}])
    assert not isinstance(reg.update(RBS, "default", "b", same), Problem)


def test_binding_table_columns(reg):
    obj, _ = reg.create(CRBS, "", {"metadata": {"name": "b"}, "roleRef": ref(), "subjects": [
        {"kind": "User", "apiGroup": G, "name": "u"}, {"kind": "Group", "apiGroup": G, "name": "g"},
        {"kind": "ServiceAccount", "name": "s", "namespace": "n"}]})
    table = to_table(CRBS, [obj], {})
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Role", "Age", "Users", "Groups",
                                                               "ServiceAccounts"]
    cells = table["rows"][0]["cells"]
    assert cells[:2] == ["b", "ClusterRole/view"] and cells[3:] == ["u", "g", "n/s"]


def test_authorizer_follows_every_change(reg):
    rbac = RBACAuthorizer(reg.store)
    alice, get = User("alice"), Attributes("get", True, resource="pods", namespace="default", name="p")
    assert rbac.authorize(alice, get).verdict is Verdict.NO_OPINION
    reg.create(ROLES, "default", {"metadata": {"name": "r"}, "rules": [READ]})
    binding, _ = reg.create(RBS, "default", {"metadata": {"name": "b"}, "roleRef": ref("Role", "r"),
                                             "subjects": [{"kind": "User", "apiGroup": G, "name": "alice"}]})
    assert rbac.authorize(alice, get).verdict is Verdict.ALLOW
    reg.update(ROLES, "default", "r", {"metadata": {"name": "r"}, "rules": [dict(READ, resourceNames=["q"])]})
    assert rbac.authorize(alice, get).verdict is Verdict.NO_OPINION
    reg.update(ROLES, "default", "r", {"metadata": {"name": "r"}, "rules": [READ]})
    assert rbac.authorize(alice, get).verdict is Verdict.ALLOW
    reg.delete(RBS, "default", "b")
    assert rbac.authorize(alice, get).verdict is Verdict.NO_OPINION
