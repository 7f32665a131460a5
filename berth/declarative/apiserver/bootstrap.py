"""The default RBAC policy, as upstream's bootstrap policy: ClusterRoles and ClusterRoleBindings by name.

`ensure_defaults(registry)` runs at API server start.  It creates each default object that is missing and
reconciles one that exists as upstream does: while its `rbac.authorization.kubernetes.io/autoupdate`
annotation is not "false", a role gets back any default rule it lost (rules users added stay), and a binding
any default subject (a binding whose roleRef changed is recreated).  Then it starts the ClusterRole
aggregation (`aggregation.Aggregator`), which fills `admin`, `edit` and `view` from the
`system:aggregate-to-*` roles through the `rbac.authorization.k8s.io/aggregate-to-*` labels.

The roles of berth's own components hold what their code calls and nothing more: `system:kube-scheduler`
(berth/declarative/scheduler: watches pods and nodes, binds, writes a pod's status, evicts by delete, records
events), `system:kube-controller-manager` (berth/declarative/controllers: the ReplicaSet, Deployment, node
lifecycle, garbage collector and ServiceAccounts loops) and `system:node` (berth/declarative/agent: its Node and
Lease, the status of its pods, their ServiceAccount tokens).  As upstream, `system:node` is bound to nobody: the node
authorizer decides for node credentials, to their own objects.  Rules are data: `rule("verbs", "group", "resources")` with space-separated words.
"""

from __future__ import annotations

import copy
import logging

from berth.declarative.apiserver.aggregation import Aggregator
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.registry import Registry
from berth.declarative.apiserver.status import Problem

log = logging.getLogger(__name__)
GROUP = "rbac.authorization.k8s.io"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE = "rbac.authorization.k8s.io/aggregate-to-"
READ, WRITE = "get list watch", "create delete deletecollection patch update"
CLUSTERROLES, BINDINGS = BY_PLURAL["clusterroles"], BY_PLURAL["clusterrolebindings"]


def rule(verbs: str, group: str, resources: str) -> dict:
    return {"verbs": verbs.split(), "apiGroups": [group], "resources": resources.split()}


def urls(verbs: str, paths: str) -> dict:
    return {"verbs": verbs.split(), "nonResourceURLs": paths.split()}


VIEW_RULES = [
    rule(READ, "", "pods pods/log pods/status events namespaces namespaces/status nodes/status configmaps "
                   "endpoints persistentvolumeclaims replicationcontrollers services serviceaccounts"),
    rule(READ, "apps", "deployments deployments/scale deployments/status replicasets replicasets/scale "
                       "replicasets/status daemonsets statefulsets controllerrevisions"),
    rule(READ, "events.k8s.io", "events"),
    rule(READ, "coordination.k8s.io", "leases"),
    rule(READ, "batch", "jobs cronjobs"),
]
EDIT_RULES = [
    rule(f"{READ} {WRITE}", "", "pods"),
    rule("create", "", "pods/eviction serviceaccounts/token"),
    rule(WRITE, "", "events configmaps endpoints persistentvolumeclaims replicationcontrollers services "
                    "serviceaccounts secrets"),
    rule(READ, "", "secrets"),
    rule(WRITE, "apps", "deployments deployments/scale replicasets replicasets/scale daemonsets statefulsets"),
    rule(WRITE, "coordination.k8s.io", "leases"),
    rule(WRITE, "batch", "jobs cronjobs"),
]
ADMIN_RULES = [
    rule("create", "authorization.k8s.io", "localsubjectaccessreviews"),
    rule(f"{READ} {WRITE}", GROUP, "roles rolebindings"),
]
EVENTS = [rule("create patch update", "", "events"), rule("create patch update", "events.k8s.io", "events")]

CLUSTER_ROLES: dict[str, dict] = {
    "cluster-admin": {"rules": [rule("*", "*", "*"), urls("*", "*")]},
    "admin": {"aggregate": "admin"},
    "edit": {"aggregate": "edit", "labels": {f"{AGGREGATE}admin": "true"}},
    "view": {"aggregate": "view", "labels": {f"{AGGREGATE}edit": "true"}},
    "system:aggregate-to-admin": {"labels": {f"{AGGREGATE}admin": "true"}, "rules": ADMIN_RULES},
    "system:aggregate-to-edit": {"labels": {f"{AGGREGATE}edit": "true"}, "rules": EDIT_RULES},
    "system:aggregate-to-view": {"labels": {f"{AGGREGATE}view": "true"}, "rules": VIEW_RULES},
    "system:discovery": {"rules": [urls("get", "/api /api/* /apis /apis/* /healthz /livez /openapi /openapi/* "
                                              "/readyz /version /version/")]},
    "system:public-info-viewer": {"rules": [urls("get", "/healthz /livez /readyz /version /version/")]},
    "system:basic-user": {"rules": [rule("create", "authorization.k8s.io",
                                         "selfsubjectaccessreviews selfsubjectrulesreviews"),
                                    rule("create", "authentication.k8s.io", "selfsubjectreviews")]},
    "system:kube-scheduler": {"rules": [
        rule(READ, "", "pods nodes"), rule("delete", "", "pods"), rule("create", "", "bindings pods/binding"),
        rule("patch update", "", "pods/status"), *EVENTS]},
    "system:kube-controller-manager": {"rules": [
        rule(f"{READ} create delete patch", "", "pods"), rule(READ, "", "namespaces"),
        rule(f"{READ} create", "", "serviceaccounts"),
        rule(f"{READ} patch update", "", "nodes"), rule("patch update", "", "nodes/status"),
        rule(READ, "coordination.k8s.io", "leases"),
        rule(f"{READ} create delete patch update", "apps", "replicasets deployments"),
        rule("patch update", "apps", "replicasets/status deployments/status"), *EVENTS]},
    "system:node": {"rules": [
        rule("create get list watch patch update", "", "nodes"), rule("patch update", "", "nodes/status"),
        rule("get list watch delete", "", "pods"), rule("patch update", "", "pods/status"),
        rule("get", "", "serviceaccounts"), rule("create", "", "serviceaccounts/token"),
        rule("get create update patch delete", "coordination.k8s.io", "leases"), *EVENTS]},
}

CLUSTER_ROLE_BINDINGS: dict[str, list[tuple[str, str]]] = {
    "cluster-admin": [("Group", "system:masters")],
    "system:discovery": [("Group", "system:authenticated")],
    "system:basic-user": [("Group", "system:authenticated")],
    "system:public-info-viewer": [("Group", "system:authenticated"), ("Group", "system:unauthenticated")],
    "system:kube-scheduler": [("User", "system:kube-scheduler")],
    "system:kube-controller-manager": [("User", "system:kube-controller-manager")],
}
"""Binding name (= the ClusterRole it grants) -> its subjects."""


def cluster_role(name: str, spec: dict) -> dict:
    meta = {"name": name, "labels": {**BOOTSTRAP_LABEL, **spec.get("labels", {})},
            "annotations": {AUTOUPDATE: "true"}}
    role = {"metadata": meta, "rules": list(spec.get("rules", []))}
    if spec.get("aggregate"):
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE + spec["aggregate"]: "true"}}]}
    return role


def cluster_role_binding(name: str, subjects: list[tuple[str, str]]) -> dict:
    meta = {"name": name, "labels": dict(BOOTSTRAP_LABEL), "annotations": {AUTOUPDATE: "true"}}
    return {"metadata": meta, "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": kind, "apiGroup": GROUP, "name": who} for kind, who in subjects]}


def _merge(current: dict, default: dict) -> dict:
    """`current` with what it lacks of `default`: labels, aggregationRule, rules, subjects."""
    meta = current["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), **default["metadata"]["labels"]}
    for key in ("rules", "subjects"):
        if key in default:
            have = current.get(key) or []
            current[key] = have + [x for x in default[key] if x not in have]
    if "aggregationRule" in default:
        current["aggregationRule"] = default["aggregationRule"]
    return current


def _ensure(registry: Registry, spec, default: dict) -> None:
    name = default["metadata"]["name"]
    current = registry.get(spec, "", name)
    if isinstance(current, Problem):
        out = registry.create(spec, "", default)
    elif (current["metadata"].get("annotations") or {}).get(AUTOUPDATE) == "false":
        return
    elif "roleRef" in default and current.get("roleRef") != default["roleRef"]:
        registry.delete(spec, "", name)
        out = registry.create(spec, "", default)
    elif _merge(copy.deepcopy(current), default) == current:
        return
    else:
        out = registry.guaranteed_update(spec, "", name, lambda obj: _merge(obj, default))
    if isinstance(out, Problem):
        log.warning("default %s %s not reconciled: %s", spec.kind, name, out.message)


def ensure_defaults(registry: Registry) -> Aggregator:
    """Create or reconcile the default roles and bindings, then keep aggregated roles up to date."""
    for name, spec in CLUSTER_ROLES.items():
        _ensure(registry, CLUSTERROLES, cluster_role(name, spec))
    for name, subjects in CLUSTER_ROLE_BINDINGS.items():
        _ensure(registry, BINDINGS, cluster_role_binding(name, subjects))
    aggregator = Aggregator(registry).start()
    registry.store.flush()
    return aggregator
