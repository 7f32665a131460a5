"""The API's names, shared by both sides of the declarative plane: each resource's plural, kind,
group/version and scope, the namespace of node Leases and the namespaces that always exist.

The API server's kind table (`apiserver/kinds.py`) takes its rows' names from `RESOURCES`; the client
builds paths from it and the controllers turn an ownerReference's kind into a plural with `PLURALS`.
Pure data, so the client and the controllers never import the server to learn a name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource: `plural` (and its `kind`) under `group/version`, namespaced or cluster-scoped."""

    plural: str
    kind: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES: dict[str, Resource] = {r.plural: r for r in (
    Resource("namespaces", "Namespace", namespaced=False),
    Resource("nodes", "Node", namespaced=False),
    Resource("pods", "Pod"),
    Resource("events", "Event"),
    Resource("leases", "Lease", group="coordination.k8s.io"),
    Resource("replicasets", "ReplicaSet", group="apps"),
    Resource("deployments", "Deployment", group="apps"),
    Resource("roles", "Role", group="rbac.authorization.k8s.io"),
    Resource("clusterroles", "ClusterRole", group="rbac.authorization.k8s.io", namespaced=False),
    Resource("rolebindings", "RoleBinding", group="rbac.authorization.k8s.io"),
    Resource("clusterrolebindings", "ClusterRoleBinding", group="rbac.authorization.k8s.io", namespaced=False),
    Resource("serviceaccounts", "ServiceAccount"),
    Resource("selfsubjectreviews", "SelfSubjectReview", group="authentication.k8s.io", namespaced=False),
    Resource("selfsubjectaccessreviews", "SelfSubjectAccessReview", group="authorization.k8s.io", namespaced=False),
    Resource("selfsubjectrulesreviews", "SelfSubjectRulesReview", group="authorization.k8s.io", namespaced=False),
)}
"""Plural -> resource, in the order the server lists them in discovery."""

PLURALS: dict[str, str] = {r.kind: r.plural for r in RESOURCES.values()}
"""Kind -> plural."""

LEASE_NAMESPACE = "kube-node-lease"
"""Where each node's heartbeat Lease lives (named after the node)."""

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", LEASE_NAMESPACE)
"""Namespaces that exist from the first start, as upstream's apiserver creates them."""
