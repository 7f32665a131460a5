"""The kinds the API server serves, as one table of data (`KINDS`), plus storage-key helpers.

Every route, discovery list, OpenAPI path, Table printer and validator is looked up here by
(group, version, plural). Adding a kind is adding a row (its names first to `berth.declarative.names`,
which the client shares, and, if it needs them, a defaulter, a validator and Table columns in their own
tables). Callers: every other module of the API server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.declarative.names import RESOURCES


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """One served resource: names, scope, verbs, subresources, and which client model describes its schema."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    model: str
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    field_labels: tuple[str, ...] = ("metadata.name", "metadata.namespace")
    categories: tuple[str, ...] = ()
    return_deleted: bool = False
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    extra: dict = field(default_factory=dict)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name used in messages: 'pods', 'deployments.apps'."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def key(self, namespace: str, name: str) -> str:
        return f"/{self.plural}/{namespace}/{name}" if self.namespaced else f"/{self.plural}/{name}"

    def prefix(self, namespace: str = "") -> str:
        return f"/{self.plural}/{namespace}/" if (self.namespaced and namespace) else f"/{self.plural}/"


POD_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
              "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")
EVENT_FIELDS = ("metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
                "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion",
                "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent",
                "source", "type")



def served(plural: str, model: str, *rest, **options) -> ResourceSpec:
    """A row of KINDS: group, version, kind and scope from `names.RESOURCES`; singular is the kind in lower
    case; `model` (the client model of its schema) and the rest are the server's own."""
    names = RESOURCES[plural]
    return ResourceSpec(names.group, names.version, plural, names.kind.lower(), names.kind, names.namespaced,
                        model, *rest, **options)


KINDS: tuple[ResourceSpec, ...] = (
    served("namespaces", "V1Namespace", ("ns",), ("status", "finalize"), ("metadata.name", "status.phase")),
    served("nodes", "V1Node", ("no",), ("status",), ("metadata.name", "spec.unschedulable")),
    served("pods", "V1Pod", ("po",), ("binding", "status", "log", "eviction"), POD_FIELDS, ("all",),
           return_deleted=True),
    served("events", "CoreV1Event", ("ev",), (), EVENT_FIELDS),
    served("leases", "V1Lease"),
    served("replicasets", "V1ReplicaSet", ("rs",), ("status", "scale"),
           ("metadata.name", "metadata.namespace", "status.replicas"), ("all",)),
    served("deployments", "V1Deployment", ("deploy",), ("status", "scale"), categories=("all",)),
    served("roles", "V1Role"),  # upstream's RBAC kinds have no short names
    served("clusterroles", "V1ClusterRole", field_labels=("metadata.name",)),
    served("rolebindings", "V1RoleBinding"),
    served("clusterrolebindings", "V1ClusterRoleBinding", field_labels=("metadata.name",)),
    served("serviceaccounts", "V1ServiceAccount", ("sa",), ("token",)),
    served("selfsubjectreviews", "V1SelfSubjectReview", verbs=("create",)),
    served("selfsubjectaccessreviews", "V1SelfSubjectAccessReview", verbs=("create",)),
    served("selfsubjectrulesreviews", "V1SelfSubjectRulesReview", verbs=("create",)),
)

BY_PATH: dict[tuple[str, str, str], ResourceSpec] = {(k.group, k.version, k.plural): k for k in KINDS}
BY_KIND: dict[tuple[str, str], ResourceSpec] = {(k.group_version, k.kind): k for k in KINDS}
BY_PLURAL: dict[str, ResourceSpec] = {k.plural: k for k in KINDS}

# Subresource -> (kind, apiVersion, client model) of the object it reads and writes, and its verbs.
SUBRESOURCES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "status": ("", "", "", ("get", "patch", "update")),
    "scale": ("Scale", "autoscaling/v1", "V1Scale", ("get", "patch", "update")),
    "binding": ("Binding", "v1", "V1Binding", ("create",)),
    "eviction": ("Eviction", "policy/v1", "V1Eviction", ("create",)),
    "log": ("Pod", "v1", "", ("get",)),
    "finalize": ("Namespace", "v1", "V1Namespace", ("update",)),
    "token": ("TokenRequest", "authentication.k8s.io/v1", "AuthenticationV1TokenRequest", ("create",)),
}

GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(dict.fromkeys((k.group, k.version) for k in KINDS))
