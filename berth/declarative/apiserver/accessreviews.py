"""SelfSubjectAccessReview and SelfSubjectRulesReview (authorization.k8s.io/v1): what may I do?

`kubectl auth can-i VERB RESOURCE` creates a SelfSubjectAccessReview; the answer is the authorisation chain's
own decision for the asking user and the review's attributes (`api.access`, the chain every request passes),
so a review never disagrees with what the request would meet.  `kubectl auth can-i --list` creates a
SelfSubjectRulesReview, answered from the RBAC authorizer's rules for the user in one namespace
(`RBACAuthorizer.rules_for`); it is `incomplete` for a node, whose rights the node authorizer decides.
Both are handlers of `reviews.REVIEWS` (`(api, call, user, body) -> dict | Problem`), never stored.
"""

from __future__ import annotations

from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.access import Attributes, User, Verdict
from berth.declarative.apiserver.gate import NO_AUTHORIZER
from berth.declarative.apiserver.status import Problem

VERSION = "authorization.k8s.io/v1"
RESOURCE_FIELDS = ("namespace", "verb", "group", "version", "resource", "subresource", "name")


def _attributes(spec: dict) -> Attributes | Problem:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        return Problem(422, "Invalid", "SelfSubjectAccessReview is invalid: spec.resourceAttributes: Invalid value:"
                                       " \"null\": exactly one of nonResourceAttributes or resourceAttributes must"
                                       " be specified")
    if non_resource is not None:
        fields = non_resource if isinstance(non_resource, dict) else {}
        return Attributes(str(fields.get("verb") or ""), False, path=str(fields.get("path") or ""))
    fields = resource if isinstance(resource, dict) else {}
    ns, verb, group, version, plural, sub, name = (str(fields.get(k) or "") for k in RESOURCE_FIELDS)
    return Attributes(verb, True, group, version, plural, sub, ns, name)


def access_review(api, call, user: User, body: dict) -> dict | Problem:
    """Answer whether `user` may do what `spec` describes, with the chain's reason."""
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return st.bad_request("the body must be a SelfSubjectAccessReview with a spec")
    attrs = _attributes(spec)
    if isinstance(attrs, Problem):
        return attrs
    decision = api.access.authorize(user, attrs)
    status: dict = {"allowed": decision.verdict is Verdict.ALLOW}
    if decision.reason == NO_AUTHORIZER:  # every authorizer had no opinion: upstream says neither why nor denied
        return _answer(spec, status)
    if decision.verdict is Verdict.DENY:
        status["denied"] = True
    if decision.reason:
        status["reason"] = decision.reason
    return _answer(spec, status)


def _answer(spec: dict, status: dict) -> dict:
    return {"kind": "SelfSubjectAccessReview", "apiVersion": VERSION, "metadata": {"creationTimestamp": None},
            "spec": spec, "status": status}


def _resource_rule(rule: dict) -> dict:
    out = {"verbs": list(rule.get("verbs") or []), "apiGroups": list(rule.get("apiGroups") or []),
           "resources": list(rule.get("resources") or [])}
    if rule.get("resourceNames"):
        out["resourceNames"] = list(rule["resourceNames"])
    return out


def rules_review(api, call, user: User, body: dict) -> dict | Problem:
    """The rules that apply to `user` in `spec.namespace`, as upstream's RBAC rule resolver lists them."""
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    namespace = str(spec.get("namespace") or "")
    resolver = next((a for a in api.access.authorizers if hasattr(a, "rules_for")), None)
    resource, non_resource = resolver.rules_for(user, namespace) if resolver else ([], [])
    status = {"resourceRules": [_resource_rule(r) for r in resource],
              "nonResourceRules": [{"verbs": list(r.get("verbs") or []),
                                    "nonResourceURLs": list(r.get("nonResourceURLs") or [])} for r in non_resource],
              "incomplete": resolver is None or user.name.startswith("system:node:")}
    return {"kind": "SelfSubjectRulesReview", "apiVersion": VERSION, "metadata": {"creationTimestamp": None},
            "spec": spec, "status": status}
