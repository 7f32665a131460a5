"""Semantic validation of objects: names (RFC 1123), labels, quantities and per-kind rules.

`validate(spec, obj)` returns a list of per-field causes (empty when valid); the registry answers a
non-empty list with 422 Invalid. Per-kind rules live in the VALIDATORS table. Messages follow upstream's
wording (apimachinery validation), so kubectl prints familiar text.
"""

from __future__ import annotations

import re
from decimal import Decimal

from berth.declarative.apiserver.status import cause
from berth.declarative.quantity import QuantityError, parse_quantity
from berth.model.labels import (EVERYTHING, SelectorError, name_problems, structured_selector, subdomain_problems,
                                value_problems)

MAX_INT32 = 2**31 - 1
MAX_INT64 = Decimal(2**63 - 1)
MAX_QUANTITY = {"cpu": MAX_INT64 / 1000}
"""The largest amount of a resource: upstream counts cpu in int64 thousandths (MilliValue) and other resources
in int64 units, and both wrap silently past that (kubernetes issue 128684), so larger amounts are refused."""

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start"
             " and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is"
             " '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def dns_label(value, path: str) -> list[dict]:
    if not isinstance(value, str) or not value:
        return [cause(path, "Required value", "FieldValueRequired")]
    if len(value) > 63:
        return [cause(path, f'Invalid value: "{value}": must be no more than 63 characters')]
    return [] if DNS1123_LABEL.match(value) else [cause(path, f'Invalid value: "{value}": {LABEL_MSG}')]


def dns_subdomain(value, path: str) -> list[dict]:
    if not isinstance(value, str) or not value:
        return [cause(path, "Required value", "FieldValueRequired")]
    return [cause(path, f'Invalid value: "{value}": {problem}') for problem in subdomain_problems(value)]


def qualified_name(key: str, path: str) -> list[dict]:
    prefix, slash, name = key.rpartition("/")
    errs = dns_subdomain(prefix, path) if slash else []
    return errs + [cause(path, f'Invalid value: "{key}": {problem}') for problem in name_problems(name)]


def labels(values, path: str) -> list[dict]:
    errs: list[dict] = []
    for key, value in (values or {}).items():
        errs += qualified_name(key, path)
        errs += [cause(f"{path}.{key}", f'Invalid value: "{value}": {problem}') for problem in value_problems(value)]
    return errs


def quantities(values, path: str, *, non_negative: bool = True) -> list[dict]:
    errs: list[dict] = []
    for name, text in (values or {}).items():
        sub = f"{path}[{name}]"
        try:
            value = parse_quantity(text.strip() if isinstance(text, str) else text)
        except QuantityError as err:
            errs.append(cause(sub, f'Invalid value: "{text}": {err}'))
            continue
        if non_negative and value < 0:
            errs.append(cause(sub, f'Invalid value: "{text}": must be greater than or equal to 0'))
        elif abs(value) > MAX_QUANTITY.get(name, MAX_INT64):
            errs.append(cause(sub, f'Invalid value: "{text}": must be no more than'
                                   f' {MAX_QUANTITY.get(name, MAX_INT64)}'))
    return errs


def in_range(spec: dict, name: str, path: str, low: int, high: int | None = None) -> list[dict]:
    """A cause when the optional integer `spec[name]` is below `low` (or above `high`), worded as upstream's."""
    value = spec.get(name)
    if not isinstance(value, int) or (low <= value and (high is None or value <= high)):
        return []
    rule = f"must be between {low} and {high}, inclusive" if high is not None else \
        f"must be greater than or equal to {low}"
    return [cause(f"{path}.{name}", f"Invalid value: {value}: {rule}")]


def metadata(spec, obj: dict) -> list[dict]:
    meta = obj.get("metadata") or {}
    name_rule = NAME_RULES.get(spec.kind, dns_subdomain)
    errs = name_rule(meta.get("name"), "metadata.name")
    errs += labels(meta.get("labels"), "metadata.labels")
    errs += [c for key in (meta.get("annotations") or {}) for c in qualified_name(key, "metadata.annotations")]
    return errs


def containers(items, path: str) -> list[dict]:
    errs: list[dict] = []
    seen: set[str] = set()
    for i, c in enumerate(items or []):
        sub = f"{path}[{i}]"
        errs += dns_label(c.get("name"), f"{sub}.name")
        if c.get("name") in seen:
            errs.append(cause(f"{sub}.name", f'Duplicate value: "{c.get("name")}"', "FieldValueDuplicate"))
        seen.add(c.get("name"))
        if not c.get("image"):
            errs.append(cause(f"{sub}.image", "Required value", "FieldValueRequired"))
        res = c.get("resources") or {}
        errs += quantities(res.get("requests"), f"{sub}.resources.requests")
        errs += quantities(res.get("limits"), f"{sub}.resources.limits")
    return errs


def pod_spec(spec: dict | None, path: str) -> list[dict]:
    spec = spec or {}
    if not spec.get("containers"):
        return [cause(f"{path}.containers", "Required value", "FieldValueRequired")]
    errs = containers(spec["containers"], f"{path}.containers")
    errs += containers(spec.get("initContainers"), f"{path}.initContainers")
    errs += in_range(spec, "activeDeadlineSeconds", path, 1, MAX_INT32)
    errs += in_range(spec, "terminationGracePeriodSeconds", path, 0)
    if spec.get("restartPolicy") not in (None, "Always", "OnFailure", "Never"):
        errs.append(cause(f"{path}.restartPolicy", f'Unsupported value: "{spec["restartPolicy"]}": supported'
                                                   ' values: "Always", "OnFailure", "Never"', "FieldValueNotSupported"))
    return errs


def pod(obj: dict) -> list[dict]:
    return pod_spec(obj.get("spec"), "spec")


def workload(obj: dict) -> list[dict]:
    """Deployment and ReplicaSet: a selector that matches the template's labels, a valid pod template."""
    spec = obj.get("spec") or {}
    errs: list[dict] = []
    if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
        errs.append(cause("spec.replicas", f"Invalid value: {spec['replicas']}: must be greater than or equal to 0"))
    selector = structured_selector(spec["selector"]) if spec.get("selector") else EVERYTHING
    if not spec.get("selector"):
        errs.append(cause("spec.selector", "Required value", "FieldValueRequired"))
    template = spec.get("template") or {}
    tlabels = (template.get("metadata") or {}).get("labels") or {}
    errs += labels(tlabels, "spec.template.metadata.labels")
    if isinstance(selector, SelectorError):
        errs.append(cause("spec.selector", f"Invalid value: {spec['selector']}: {selector.message}"))
    elif not selector.matches(tlabels):
        errs.append(cause("spec.template.metadata.labels", f"Invalid value: {tlabels}: `selector` does not match"
                                                           " template `labels`"))
    return errs + pod_spec(template.get("spec"), "spec.template.spec")


def node(obj: dict) -> list[dict]:
    status = obj.get("status") or {}
    return quantities(status.get("capacity"), "status.capacity") + \
        quantities(status.get("allocatable"), "status.allocatable")


def lease(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    seconds = spec.get("leaseDurationSeconds")
    if seconds is not None and seconds <= 0:
        return [cause("spec.leaseDurationSeconds", f"Invalid value: {seconds}: must be greater than 0")]
    return []


def event(obj: dict) -> list[dict]:
    if not (obj.get("involvedObject") or {}).get("name") and not obj.get("regarding"):
        return [cause("involvedObject.name", "Required value", "FieldValueRequired")]
    return []


def path_segment(value, path: str) -> list[dict]:
    """Upstream's path-segment name rule (RBAC objects, whose names such as 'system:node' are no subdomains)."""
    if not isinstance(value, str) or not value:
        return [cause(path, "Required value", "FieldValueRequired")]
    if value in (".", ".."):
        return [cause(path, f'Invalid value: "{value}": may not be \'{value}\'')]
    bad = next((c for c in ("/", "%") if c in value), None)
    return [cause(path, f'Invalid value: "{value}": may not contain \'{bad}\'')] if bad else []


RBAC_GROUP = "rbac.authorization.k8s.io"
SUBJECT_GROUPS = {"ServiceAccount": "", "User": RBAC_GROUP, "Group": RBAC_GROUP}


def unsupported(path: str, value, allowed) -> dict:
    supported = ", ".join(f'"{a}"' for a in allowed)
    return cause(path, f'Unsupported value: "{value}": supported values: {supported}', "FieldValueNotSupported")


def policy_rule(rule, path: str, namespaced: bool) -> list[dict]:
    """One PolicyRule: verbs required; either resources (with API groups) or non-resource URLs, not both."""
    rule = rule if isinstance(rule, dict) else {}
    errs = [] if rule.get("verbs") else [cause(f"{path}.verbs", "Required value: verbs must contain at least one"
                                                                " value", "FieldValueRequired")]
    urls = rule.get("nonResourceURLs")
    if urls:
        if namespaced:
            errs.append(cause(f"{path}.nonResourceURLs", f"Invalid value: {urls}: namespaced rules cannot apply"
                                                         " to non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(cause(f"{path}.nonResourceURLs", f"Invalid value: {urls}: rules cannot apply to both"
                                                         " regular resources and non-resource URLs"))
        return errs
    for key, what in (("apiGroups", "api group"), ("resources", "resource")):
        if not rule.get(key):
            errs.append(cause(f"{path}.{key}", f"Required value: resource rules must supply at least one {what}",
                              "FieldValueRequired"))
    return errs


def rules(obj: dict, namespaced: bool) -> list[dict]:
    return [c for i, r in enumerate(obj.get("rules") or []) for c in policy_rule(r, f"rules[{i}]", namespaced)]


def cluster_role(obj: dict) -> list[dict]:
    errs = rules(obj, False)
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        selectors = (aggregation or {}).get("clusterRoleSelectors") or []
        if not selectors:
            errs.append(cause("aggregationRule.clusterRoleSelectors", "Required value: at least one"
                              " clusterRoleSelector required if aggregationRule is non-nil", "FieldValueRequired"))
        for i, sel in enumerate(selectors):
            parsed = structured_selector(sel)
            if isinstance(parsed, SelectorError):
                errs.append(cause(f"aggregationRule.clusterRoleSelectors[{i}]", f"Invalid value: {sel}: "
                                                                               f"{parsed.message}"))
    return errs


def role_ref(ref, kinds: tuple[str, ...]) -> list[dict]:
    ref = ref if isinstance(ref, dict) else {}
    errs = []
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.append(unsupported("roleRef.apiGroup", ref.get("apiGroup", ""), (RBAC_GROUP,)))
    if ref.get("kind") not in kinds:
        errs.append(unsupported("roleRef.kind", ref.get("kind", ""), kinds))
    return errs + path_segment(ref.get("name"), "roleRef.name")


def subject(s, path: str, cluster: bool) -> list[dict]:
    s = s if isinstance(s, dict) else {}
    kind = s.get("kind")
    if kind not in SUBJECT_GROUPS:
        return [unsupported(f"{path}.kind", kind or "", tuple(SUBJECT_GROUPS))]
    if kind != "ServiceAccount":
        errs = [] if s.get("name") else [cause(f"{path}.name", "Required value", "FieldValueRequired")]
        if s.get("apiGroup") != RBAC_GROUP:
            errs.append(unsupported(f"{path}.apiGroup", s.get("apiGroup", ""), (RBAC_GROUP,)))
        return errs
    errs = dns_subdomain(s.get("name"), f"{path}.name")
    if s.get("apiGroup"):
        errs.append(unsupported(f"{path}.apiGroup", s["apiGroup"], ("",)))
    if cluster and not s.get("namespace"):
        errs.append(cause(f"{path}.namespace", "Required value", "FieldValueRequired"))
    return errs


def role_binding(obj: dict, cluster: bool = False) -> list[dict]:
    errs = role_ref(obj.get("roleRef"), ("ClusterRole",) if cluster else ("Role", "ClusterRole"))
    return errs + [c for i, s in enumerate(obj.get("subjects") or []) for c in subject(s, f"subjects[{i}]", cluster)]


def role_binding_update(old: dict, new: dict) -> list[dict]:
    """A binding's roleRef never changes (delete and recreate the binding instead), as upstream."""
    if "roleRef" in old and old["roleRef"] != new.get("roleRef"):
        return [cause("roleRef", f"Invalid value: {new.get('roleRef')}: cannot change roleRef")]
    return []


NAME_RULES = {"Namespace": dns_label, "Role": path_segment, "ClusterRole": path_segment,
              "RoleBinding": path_segment, "ClusterRoleBinding": path_segment}

VALIDATORS = {"Pod": pod, "Deployment": workload, "ReplicaSet": workload, "Node": node, "Lease": lease,
              "Event": event, "Role": lambda obj: rules(obj, True), "ClusterRole": cluster_role,
              "RoleBinding": role_binding, "ClusterRoleBinding": lambda obj: role_binding(obj, True)}

UPDATE_VALIDATORS = {"RoleBinding": role_binding_update, "ClusterRoleBinding": role_binding_update}


STATUS_VALIDATORS = {"Node": node}


def validate_status(spec, obj: dict) -> list[dict]:
    """The causes that make a status write invalid (only kinds whose status carries checked values)."""
    rule = STATUS_VALIDATORS.get(spec.kind)
    return rule(obj) if rule else []


def validate_update(spec, old: dict, new: dict) -> list[dict]:
    """The causes that make replacing `old` by `new` invalid (fields that never change after create)."""
    rule = UPDATE_VALIDATORS.get(spec.kind)
    return rule(old, new) if rule else []


def validate(spec, obj: dict) -> list[dict]:
    """All causes that make `obj` invalid as a `spec.kind` (metadata first, then the kind's own rules)."""
    rule = VALIDATORS.get(spec.kind)
    return metadata(spec, obj) + (rule(obj) if rule else [])
