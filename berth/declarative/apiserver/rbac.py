"""RBAC: the `Authorizer` over Role, ClusterRole, RoleBinding and ClusterRoleBinding, with upstream's semantics.

A request is allowed when a binding that applies to the user grants a rule that matches it:
ClusterRoleBindings apply in every namespace and to cluster-scoped and non-resource requests; a RoleBinding
applies to requests in its own namespace, through a Role of that namespace or a ClusterRole.  Subjects are
Users, Groups and ServiceAccounts (the user `system:serviceaccount:<ns>:<name>`).  A rule matches by verb,
API group, resource (`*`, `pods/log`, `*/scale`), resource name and non-resource URL (a trailing `*` is a
prefix), each as upstream's `RuleAllows`.  Nothing denies: what no rule allows is NO_OPINION.

Cost per request: `Policy` is an index of compiled grants by subject, rebuilt from in-memory reads of the
store only after an RBAC object changed (a store watch on the four prefixes marks it stale), and decisions
are memoised per (user, groups, attributes) until then.  `app.py` puts `RBACAuthorizer(store)` in the chain;
`reviews.py` asks it for SelfSubjectAccessReview and `rules_for` for SelfSubjectRulesReview.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from berth.declarative.apiserver.access import AUTHENTICATED, NO_OPINION, Attributes, Decision, User, Verdict
from berth.store import Store

GROUP = "rbac.authorization.k8s.io"
PREFIXES = ("/clusterroles/", "/roles/", "/clusterrolebindings/", "/rolebindings/")
SA_PREFIX = "system:serviceaccount:"
ANONYMOUS = "system:anonymous"
CACHE_LIMIT = 50_000


def _set(values) -> frozenset[str]:
    return frozenset(v for v in values or () if isinstance(v, str))


@dataclass(frozen=True, slots=True)
class Rule:
    """One PolicyRule, compiled to sets: `raw` is the rule as stored (for SelfSubjectRulesReview)."""

    verbs: frozenset[str]
    groups: frozenset[str]
    resources: frozenset[str]
    names: frozenset[str]
    urls: frozenset[str]
    url_prefixes: tuple[str, ...]
    raw: dict

    @classmethod
    def of(cls, raw: dict) -> "Rule":
        urls = _set(raw.get("nonResourceURLs"))
        prefixes = tuple(u[:-1] for u in urls if u.endswith("*"))
        return cls(_set(raw.get("verbs")), _set(raw.get("apiGroups")), _set(raw.get("resources")),
                   _set(raw.get("resourceNames")), urls, prefixes, raw)

    def allows(self, attrs: Attributes) -> bool:
        if attrs.verb not in self.verbs and "*" not in self.verbs:
            return False
        if not attrs.resource_request:
            return self._url(attrs.path)
        return self._group(attrs.api_group) and self._resource(attrs) and self._name(attrs.name)

    def _url(self, path: str) -> bool:
        return path in self.urls or "*" in self.urls or any(path.startswith(p) for p in self.url_prefixes)

    def _group(self, group: str) -> bool:
        return group in self.groups or "*" in self.groups

    def _resource(self, attrs: Attributes) -> bool:
        res = self.resources
        if "*" in res:
            return True
        if not attrs.subresource:
            return attrs.resource in res
        return f"{attrs.resource}/{attrs.subresource}" in res or f"*/{attrs.subresource}" in res

    def _name(self, name: str) -> bool:
        return not self.names or name in self.names


@dataclass(frozen=True, slots=True)
class Grant:
    """The rules one binding gives one subject; `namespace` is '' for a ClusterRoleBinding (everywhere)."""

    source: str
    namespace: str
    rules: tuple[Rule, ...]


def describe_subject(subject: dict, namespace: str) -> str:
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name", "")}/{subject.get("namespace") or namespace}"'
    return f'{subject.get("kind", "")} "{subject.get("name", "")}"'


def subject_key(subject: dict, namespace: str) -> tuple[str, str] | None:
    """('user', name) or ('group', name) a subject stands for; a ServiceAccount is its user name."""
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "ServiceAccount":
        return "user", f"{SA_PREFIX}{subject.get('namespace') or namespace}:{name}"
    return {"User": ("user", name), "Group": ("group", name)}.get(kind)


class Policy:
    """An immutable index of grants by subject, built from the four kinds' objects (decoded dicts)."""

    def __init__(self, roles: list[dict], clusterroles: list[dict], rolebindings: list[dict],
                 clusterrolebindings: list[dict]) -> None:
        cluster = {_meta(r)["name"]: _rules(r) for r in clusterroles}
        local = {(_meta(r).get("namespace", ""), _meta(r)["name"]): _rules(r) for r in roles}
        self.users: dict[str, list[Grant]] = {}
        self.groups: dict[str, list[Grant]] = {}
        for b in clusterrolebindings:  # cluster bindings first, as upstream visits them
            ref = b.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole" and ref.get("name") in cluster:
                self._add(b, "", cluster[ref["name"]])
        for b in rolebindings:
            ref, ns = b.get("roleRef") or {}, _meta(b).get("namespace", "")
            rules = cluster.get(ref.get("name")) if ref.get("kind") == "ClusterRole" else \
                local.get((ns, ref.get("name"))) if ref.get("kind") == "Role" else None
            if rules is not None:
                self._add(b, ns, rules)
        self.names_matter = any(rule.names for grants in (*self.users.values(), *self.groups.values())
                                for grant in grants for rule in grant.rules)

    def _add(self, binding: dict, namespace: str, rules: tuple[Rule, ...]) -> None:
        ref, name = binding["roleRef"], _meta(binding)["name"]
        label = f'RoleBinding "{name}/{namespace}"' if namespace else f'ClusterRoleBinding "{name}"'
        for subject in binding.get("subjects") or ():
            key = subject_key(subject, namespace) if isinstance(subject, dict) else None
            if key is not None:
                source = f'{label} of {ref["kind"]} "{ref["name"]}" to {describe_subject(subject, namespace)}'
                index = self.users if key[0] == "user" else self.groups
                index.setdefault(key[1], []).append(Grant(source, namespace, rules))

    def grants(self, name: str, groups: tuple[str, ...]):
        """Every grant that applies to the user, cluster-wide or in any namespace."""
        yield from self.users.get(name, ())
        for group in groups:
            yield from self.groups.get(group, ())

    def decide(self, name: str, groups: tuple[str, ...], attrs: Attributes) -> Decision:
        ns = attrs.namespace
        for grant in self.grants(name, groups):
            if grant.namespace and grant.namespace != ns:
                continue
            for rule in grant.rules:
                if rule.allows(attrs):
                    return Decision(Verdict.ALLOW, f"RBAC: allowed by {grant.source}")
        return NO_OPINION


def _meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def _rules(role: dict) -> tuple[Rule, ...]:
    return tuple(Rule.of(r) for r in role.get("rules") or () if isinstance(r, dict))


def groups_of(user: User) -> tuple[str, ...]:
    """The user's groups, with system:authenticated for everyone but the anonymous user."""
    if user.name == ANONYMOUS or AUTHENTICATED in user.groups:
        return user.groups
    return (*user.groups, AUTHENTICATED)


class RBACAuthorizer:
    """The chain's RBAC stage over `store`: the policy is rebuilt lazily after an RBAC object changes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._stale = True
        self._policy: Policy | None = None
        self._cache: dict[tuple, Decision] = {}
        for prefix in PREFIXES:
            store.watch(prefix, store.revision, self._changed)

    def _changed(self, event) -> None:
        self._stale = True  # runs inside the writer's store call: only a flag, no work

    @property
    def policy(self) -> Policy:
        if self._stale or self._policy is None:
            self._stale = False
            self._policy = Policy(*([orjson.loads(r.value) for r in self.store.list(p).records]
                                    for p in ("/roles/", "/clusterroles/", "/rolebindings/", "/clusterrolebindings/")))
            self._cache = {}
        return self._policy

    def authorize(self, user: User, attrs: Attributes) -> Decision:
        policy = self.policy
        name = attrs.name if policy.names_matter else ""
        key = (user.name, user.groups, attrs.verb, attrs.resource_request, attrs.api_group, attrs.resource,
               attrs.subresource, attrs.namespace, name, attrs.path)
        decision = self._cache.get(key)
        if decision is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache = {}
            decision = self._cache[key] = policy.decide(user.name, groups_of(user), attrs)
        return decision

    def rules_for(self, user: User, namespace: str) -> tuple[list[dict], list[dict]]:
        """(resource rules, non-resource rules) that apply to `user` in `namespace`, as stored (upstream's
        RulesFor: cluster-wide grants plus the namespace's own; non-resource rules from cluster-wide ones)."""
        resource, non_resource = [], []
        for grant in self.policy.grants(user.name, groups_of(user)):
            if grant.namespace and grant.namespace != namespace:
                continue
            for rule in grant.rules:
                if rule.urls and not grant.namespace:
                    non_resource.append(rule.raw)
                elif rule.resources:
                    resource.append(rule.raw)
        return resource, non_resource
