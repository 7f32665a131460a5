"""The default policy and aggregated ClusterRoles: ensure_defaults is idempotent and repairs what it owns;
admin/edit/view are the union of the roles their labels select, kept up to date while the server runs."""

from __future__ import annotations

import asyncio

import pytest

from berth.declarative.apiserver.access import Attributes, User, Verdict
from berth.declarative.apiserver.aggregation import aggregated_rules
from berth.declarative.apiserver.bootstrap import AUTOUPDATE, ensure_defaults
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.rbac import RBACAuthorizer
from berth.declarative.apiserver.registry import Registry
from berth.store import MemoryStore

G = "rbac.authorization.k8s.io"
CROLES, CRBS, RBS = BY_PLURAL["clusterroles"], BY_PLURAL["clusterrolebindings"], BY_PLURAL["rolebindings"]
WIDGETS = {"verbs": ["get"], "apiGroups": ["example.com"], "resources": ["widgets"]}


@pytest.fixture
def reg():
    registry = Registry(MemoryStore())
    ensure_defaults(registry)
    return registry


def rules(reg, name):
    return reg.get(CROLES, "", name)["rules"]


def test_defaults_are_idempotent_and_aggregated(reg):
    before = reg.store.revision
    ensure_defaults(reg)
    assert reg.store.revision == before  # nothing to write the second time
    view, edit, admin = (rules(reg, n) for n in ("view", "edit", "admin"))
    assert view and all(r in edit for r in view) and all(r in admin for r in edit)  # view < edit < admin
    assert not any(set(r["verbs"]) & {"create", "delete"} for r in view)


def test_reconcile_restores_lost_default_rules_unless_autoupdate_is_false(reg):
    reg.guaranteed_update(CROLES, "", "system:basic-user", lambda o: {**o, "rules": [WIDGETS]})
    reg.guaranteed_update(CROLES, "", "system:discovery", lambda o: {
        **o, "rules": [], "metadata": {**o["metadata"], "annotations": {AUTOUPDATE: "false"}}})
    ensure_defaults(reg)
    basic = rules(reg, "system:basic-user")
    assert basic[0] == WIDGETS and len(basic) == 3  # the user's rule stays, the defaults come back
    assert reg.get(CROLES, "", "system:discovery").get("rules") in (None, [])


def test_aggregation_follows_new_labelled_roles_in_the_servers_loop(reg):
    async def add_role():
        reg.create(CROLES, "", {"metadata": {"name": "widget-viewer", "labels": {f"{G}/aggregate-to-view": "true"}},
                                "rules": [WIDGETS]})
        await asyncio.sleep(0)  # the reconcile runs on the next loop turn

    asyncio.run(add_role())
    assert WIDGETS in rules(reg, "view") and WIDGETS in rules(reg, "edit") and WIDGETS in rules(reg, "admin")


def test_aggregated_rules_union_in_selector_then_name_order():
    a = {"verbs": ["get"], "apiGroups": [""], "resources": ["a"]}
    b = {"verbs": ["get"], "apiGroups": [""], "resources": ["b"]}
    role = {"metadata": {"name": "agg"}, "aggregationRule": {"clusterRoleSelectors": [
        {"matchLabels": {"x": "1"}}, {"matchExpressions": [{"key": "y", "operator": "Exists"}]}]}}
    others = [{"metadata": {"name": "z", "labels": {"x": "1"}}, "rules": [b]},
              {"metadata": {"name": "m", "labels": {"x": "1", "y": ""}}, "rules": [a, b]},
              {"metadata": {"name": "n", "labels": {"q": "1"}}, "rules": [WIDGETS]}]
    assert aggregated_rules(role, [role, *others]) == [a, b]


ATTRS = [  # (verb, resource, group, subresource, namespace, allowed for a view user in 'team')
    ("get", "pods", "", "", "team", True),
    ("list", "deployments", "apps", "", "team", True),
    ("get", "pods", "", "log", "team", True),
    ("delete", "pods", "", "", "team", False),
    ("get", "pods", "", "", "other", False),
    ("get", "secrets", "", "", "team", False),
    ("create", "rolebindings", G, "", "team", False),
]


@pytest.mark.parametrize("verb,resource,group,sub,ns,allowed", ATTRS)
def test_view_bound_in_one_namespace(reg, verb, resource, group, sub, ns, allowed):
    reg.create(BY_PLURAL["namespaces"], "", {"metadata": {"name": "team"}})
    reg.create(RBS, "team", {"metadata": {"name": "v"}, "roleRef": {"apiGroup": G, "kind": "ClusterRole",
                                                                    "name": "view"},
                             "subjects": [{"kind": "User", "apiGroup": G, "name": "vic"}]})
    attrs = Attributes(verb, True, api_group=group, resource=resource, subresource=sub, namespace=ns, name="x")
    decision = RBACAuthorizer(reg.store).authorize(User("vic"), attrs)
    assert (decision.verdict is Verdict.ALLOW) is allowed


@pytest.mark.parametrize("who,verb,resource,sub,allowed", [
    ("system:kube-scheduler", "create", "pods", "binding", True),
    ("system:kube-scheduler", "patch", "pods", "status", True),
    ("system:kube-scheduler", "create", "pods", "", False),
    ("system:kube-scheduler", "list", "secrets", "", False),
    ("system:kube-controller-manager", "create", "pods", "", True),
    ("system:kube-controller-manager", "create", "pods", "binding", False),
    ("system:kube-controller-manager", "get", "secrets", "", False),
])
def test_component_roles_are_least_privilege(reg, who, verb, resource, sub, allowed):
    attrs = Attributes(verb, True, resource=resource, subresource=sub, namespace="default", name="p")
    decision = RBACAuthorizer(reg.store).authorize(User(who), attrs)
    assert (decision.verdict is Verdict.ALLOW) is allowed


def test_every_authenticated_user_may_discover_and_review_itself(reg):
    rbac, user = RBACAuthorizer(reg.store), User("anyone")
    assert rbac.authorize(user, Attributes("get", False, path="/apis/apps/v1")).verdict is Verdict.ALLOW
    review = Attributes("create", True, api_group="authorization.k8s.io", resource="selfsubjectaccessreviews")
    assert rbac.authorize(user, review).verdict is Verdict.ALLOW
    assert rbac.authorize(user, Attributes("list", True, resource="pods")).verdict is Verdict.NO_OPINION
