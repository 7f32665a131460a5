"""What a node agent's credential may do: upstream's Node authorizer and NodeRestriction admission, in one place.

A node is the user `system:node:<name>` in the group `system:nodes` (upstream's node identifier).  For
such a user `NodeAuthorizer` is authoritative: it answers ALLOW or DENY, never NO_OPINION, so no RBAC rule
can widen a node's reach; for everyone else it has no opinion.  A node may

- read (get/list/watch) nodes, pods, namespaces, services and endpoints, and leases in kube-node-lease;
- create its own Node, update and patch its own Node and `nodes/status`; never delete a Node;
- create, update, patch and delete its own Lease in kube-node-lease;
- update and patch `pods/status`, delete and evict only pods bound to it (`spec.nodeName`, read from the
  store's current object at authorisation time; a missing pod is allowed through, so the handler's 404
  answers as upstream's admission does);
- create and patch events; create `serviceaccounts/token`; read secrets and configmaps that a pod bound
  to it references; create the self-reviews every user may, and read discovery.

What needs the request body is checked by the admission functions below, which the handlers call after
authorisation: `admit_create` (`handlers.create`: a created Node or Lease must carry the node's own name)
and `admit_token_request` (`serviceaccounts.token_request`: a TokenRequest must be bound to a pod on the
node that runs as that service account).  Their 403s and the authorizer's reasons use upstream's wording;
the denials upstream makes in NodeRestriction rather than its authorizer (another node's Node, status or
deletion of a pod not bound to the node, its eviction, creating a pod) are `refuse`d: the gate words them
as that admission plugin does.
The API server's `__main__` puts the authorizer first in the chain, before RBAC.
"""

from __future__ import annotations

from typing import Callable

import orjson

from berth.declarative.apiserver.access import ALLOW, NO_OPINION, Attributes, Decision, User, Verdict
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.status import Problem
from berth.declarative.names import LEASE_NAMESPACE
from berth.store import Store

NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
READ = frozenset({"get", "list", "watch"})
WRITE = frozenset({"update", "patch"})
DISCOVERY = ("/api", "/apis", "/openapi/", "/version", "/healthz", "/livez", "/readyz")
SELF_REVIEWS = frozenset({("authentication.k8s.io", "selfsubjectreviews"),
                          ("authorization.k8s.io", "selfsubjectaccessreviews"),
                          ("authorization.k8s.io", "selfsubjectrulesreviews")})
_MEMO_SIZE = 65_536


def node_name(user: User) -> str | None:
    """The node a user is, as upstream's node identifier sees it: None for a non-node, '' for an unnamed one."""
    if not user.name.startswith(NODE_PREFIX) or NODES_GROUP not in user.groups:
        return None
    return user.name[len(NODE_PREFIX):]


def deny(reason: str) -> Decision:
    return Decision(Verdict.DENY, reason)


def refuse(reason: str) -> Decision:
    """A denial upstream makes in its NodeRestriction admission plugin (its authorizer lets these through):
    the 403 is worded as that plugin's, '<resource> "<name>" is forbidden: <reason>'."""
    return Decision(Verdict.DENY, reason, admission=True)


def modify_node(node: str, other: str) -> str:
    return f'node "{node}" is not allowed to modify node "{other}"'


LEASE_OTHER = "can only access node lease with the same name as the requesting node"
LEASE_NAMESPACE_ONLY = f'can only access leases in the "{LEASE_NAMESPACE}" system namespace'


class NodeAuthorizer:
    """The `access.Authorizer` for node credentials; reads pods from `store` (memory, no I/O) to see bindings."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._bound: dict[str, tuple[int, str]] = {}  # pod key -> (mod_revision, spec.nodeName)
        self.rules: dict[tuple[str, str, str], Callable[[str, Attributes], Decision]] = {
            ("", "nodes", ""): self._node, ("", "nodes", "status"): self._node_status,
            ("", "pods", ""): self._pod, ("", "pods", "status"): self._pod_status,
            ("", "pods", "eviction"): self._pod_eviction,
            ("", "namespaces", ""): _read_only, ("", "services", ""): _read_only, ("", "endpoints", ""): _read_only,
            ("coordination.k8s.io", "leases", ""): _lease,
            ("", "events", ""): _event, ("events.k8s.io", "events", ""): _event,
            ("", "serviceaccounts", "token"): _token,
            ("", "secrets", ""): self._referenced("secrets"), ("", "configmaps", ""): self._referenced("configmaps"),
        }

    def authorize(self, user: User, attrs: Attributes) -> Decision:
        node = node_name(user)
        if node is None:
            return NO_OPINION
        if not node:
            return deny(f'unknown node for user "{user.name}"')
        if not attrs.resource_request:
            return _non_resource(node, attrs)
        if (attrs.api_group, attrs.resource) in SELF_REVIEWS and attrs.verb == "create":
            return ALLOW
        rule = self.rules.get((attrs.api_group, attrs.resource, attrs.subresource))
        if rule is None:
            return deny(f'node "{node}" has no access to {_what(attrs)}')
        return rule(node, attrs)

    # ---- nodes -----------------------------------------------------------------------------------------
    def _node(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb in READ:
            return ALLOW
        if attrs.verb == "create" and not attrs.name:
            return ALLOW  # a create names its Node in the body: `admit_create` checks it
        if attrs.verb == "create" or attrs.verb in WRITE:
            return ALLOW if attrs.name == node else refuse(modify_node(node, attrs.name))
        return deny(f'node "{node}" can only create, update and patch its own Node, never {attrs.verb} one')

    def _node_status(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb == "get" or (attrs.verb in WRITE and attrs.name == node):
            return ALLOW
        return refuse(modify_node(node, attrs.name)) if attrs.verb in WRITE else deny(modify_node(node, attrs.name))

    # ---- pods --------------------------------------------------------------------------------------------
    def _pod(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb in READ:
            return ALLOW
        if attrs.verb == "delete":
            return self._if_bound(node, attrs, f'node "{node}" can only delete pods with spec.nodeName set to itself')
        if attrs.verb == "create":
            return refuse(f'pod does not have "kubernetes.io/config.mirror" annotation, node "{node}" can only'
                          f' create mirror pods')
        return deny(f'unexpected operation "{attrs.verb}", node "{node}" can only create and delete mirror pods')

    def _pod_status(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb == "get":
            return ALLOW
        if attrs.verb in WRITE:
            return self._if_bound(node, attrs, f'node "{node}" can only update pod status for pods with'
                                               f' spec.nodeName set to itself')
        return deny(f'unexpected operation "{attrs.verb}"')

    def _pod_eviction(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb == "create":
            return self._if_bound(node, attrs, f"node {node} can only evict pods with spec.nodeName set to itself")
        return deny(f'unexpected operation "{attrs.verb}"')

    def _if_bound(self, node: str, attrs: Attributes, reason: str) -> Decision:
        """ALLOW when the named pod is bound to `node` or does not exist (the handler then answers 404); else
        NodeRestriction's refusal."""
        bound = self.bound_node(attrs.namespace, attrs.name) if attrs.name else ""
        return ALLOW if bound is None or bound == node else refuse(reason)

    def bound_node(self, namespace: str, name: str) -> str | None:
        """The pod's current spec.nodeName ('' when unbound), or None when there is no such pod."""
        key = BY_PLURAL["pods"].key(namespace, name)
        record = self.store.get(key)
        if record is None:
            return None
        memo = self._bound.get(key)
        if memo is not None and memo[0] == record.mod_revision:
            return memo[1]
        bound = str((orjson.loads(record.value).get("spec") or {}).get("nodeName") or "")
        if len(self._bound) >= _MEMO_SIZE:
            self._bound.clear()
        self._bound[key] = (record.mod_revision, bound)
        return bound

    # ---- objects pods reference ------------------------------------------------------------------------
    def _referenced(self, plural: str) -> Callable[[str, Attributes], Decision]:
        def rule(node: str, attrs: Attributes) -> Decision:
            if attrs.verb not in READ:
                return deny("can only read resources of this type")
            if not attrs.namespace or not attrs.name:
                return deny("can only read namespaced object of this type")
            if any(attrs.name in _references(pod, plural) for pod in self._pods_on(node, attrs.namespace)):
                return ALLOW
            return deny(f"no relationship found between node '{node}' and this object")
        return rule

    def _pods_on(self, node: str, namespace: str):
        """The pods of `namespace` bound to `node` (a scan of that namespace: kept off the hot paths)."""
        for record in self.store.list(BY_PLURAL["pods"].prefix(namespace)).records:
            pod = orjson.loads(record.value)
            if (pod.get("spec") or {}).get("nodeName") == node:
                yield pod


def _read_only(node: str, attrs: Attributes) -> Decision:
    return ALLOW if attrs.verb in READ else deny(f'node "{node}" can only read {_what(attrs)}')


def _lease(node: str, attrs: Attributes) -> Decision:
    if attrs.namespace != LEASE_NAMESPACE:
        return deny(LEASE_NAMESPACE_ONLY)
    if attrs.verb in READ:
        return ALLOW
    if attrs.verb not in ("create", "update", "patch", "delete"):
        return deny("can only get, create, update, patch, or delete a node lease")
    if attrs.name == node or (attrs.verb == "create" and not attrs.name):
        return ALLOW  # a create names its Lease in the body: `admit_create` checks it
    return deny(LEASE_OTHER)


def _event(node: str, attrs: Attributes) -> Decision:
    if attrs.verb in ("create", "patch"):
        return ALLOW
    return deny(f'node "{node}" can only create and patch events')


def _token(node: str, attrs: Attributes) -> Decision:
    if attrs.verb != "create" or not attrs.name:
        return deny("can only create tokens for individual service accounts")
    return ALLOW  # the pod the token is bound to is in the body: `admit_token_request` checks it


def _non_resource(node: str, attrs: Attributes) -> Decision:
    path = attrs.path
    if attrs.verb == "get" and any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in DISCOVERY):
        return ALLOW
    return deny(f'node "{node}" may only read discovery, not {attrs.verb} {path}')


def _what(attrs: Attributes) -> str:
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    return f"{resource}.{attrs.api_group}" if attrs.api_group else resource


REFERENCES = {"secrets": ("secret", "secretName", "secretRef", "secretKeyRef"),
              "configmaps": ("configMap", "name", "configMapRef", "configMapKeyRef")}
"""Plural -> (volume source, its name field, envFrom source, env valueFrom source): where a pod names one."""


def _references(pod: dict, plural: str) -> set:
    """Names of the secrets or configmaps a pod uses: volumes (also projected), env and envFrom of every container."""
    volume, field, from_ref, key_ref = REFERENCES[plural]
    spec = pod.get("spec") or {}
    names = {s.get("name") for s in spec.get("imagePullSecrets") or []} if plural == "secrets" else set()
    for vol in spec.get("volumes") or []:
        names.add((vol.get(volume) or {}).get(field))
        names.update((s.get(volume) or {}).get("name") for s in (vol.get("projected") or {}).get("sources") or [])
    for ctr in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        names.update((e.get(from_ref) or {}).get("name") for e in ctr.get("envFrom") or [])
        names.update(((e.get("valueFrom") or {}).get(key_ref) or {}).get("name") for e in ctr.get("env") or [])
    return names - {None, ""}


# ---- admission: the checks that need the request's body ------------------------------------------------------
def forbidden(plural: str, name: str, reason: str) -> Problem:
    """Upstream's 403 from admission: '<resource> "<name>" is forbidden: <reason>'."""
    spec = BY_PLURAL.get(plural)
    qualified = spec.qualified if spec else plural
    return Problem(403, "Forbidden", f'{qualified} "{name}" is forbidden: {reason}',
                   {"name": name, "group": spec.group if spec else "", "kind": plural})


def admit_create(user: User | None, plural: str, obj) -> Problem | None:
    """A node's create of a Node or Lease must name its own object (the name is only in the body)."""
    if plural not in ("nodes", "leases") or user is None:
        return None
    node = node_name(user)
    if not node:
        return None
    name = str(((obj.get("metadata") if isinstance(obj, dict) else None) or {}).get("name") or "")
    if name == node:
        return None
    return forbidden(plural, name, modify_node(node, name) if plural == "nodes" else LEASE_OTHER)


def admit_token_request(user: User | None, store: Store, namespace: str, account: str, request) -> Problem | None:
    """A node's TokenRequest must be bound to a pod (name and uid) scheduled on that node and running as the
    service account, as upstream's NodeRestriction and token registry check."""
    node = node_name(user) if user is not None else None
    if not node:
        return None
    ref = ((request.get("spec") if isinstance(request, dict) else None) or {}).get("boundObjectRef") or {}
    if not isinstance(ref, dict) or ref.get("kind") != "Pod" or ref.get("apiVersion") != "v1" or not ref.get("name"):
        return forbidden("serviceaccounts", account, "node requested token not bound to a pod")
    if not ref.get("uid"):
        return forbidden("serviceaccounts", account, "node requested token with a pod binding without a uid")
    record = store.get(BY_PLURAL["pods"].key(namespace, str(ref["name"])))
    if record is None:
        return Problem(404, "NotFound", f'pods "{ref["name"]}" not found',
                       {"name": str(ref["name"]), "group": "", "kind": "pods"})
    pod = orjson.loads(record.value)
    if pod["metadata"].get("uid") != ref["uid"]:
        return forbidden("serviceaccounts", account, "the UID in the bound object reference does not match the"
                         " UID in record. The object might have been deleted and then recreated")
    spec = pod.get("spec") or {}
    if spec.get("nodeName") != node:
        return forbidden("serviceaccounts", account, "node requested token bound to a pod scheduled on a different node")
    if (spec.get("serviceAccountName") or "default") != account:
        return forbidden("serviceaccounts", account, f'node requested a token for service account "{account}" bound'
                         f' to a pod running as another service account')
    return None
