"""The request gate: authentication, authorisation and the watch cap, once per HTTP request.

`Gate.admit(scope)` authenticates the request through the `access.Chain` (adding system:authenticated to
the user's groups and putting the user in `scope["berth.user"]`), builds its `access.Attributes` from the
path, method and query as upstream's RequestInfoFactory does, and asks the chain's authorizers.  It answers
the attributes, or the response to send instead: 401 `Unauthorized`, or 403 `Forbidden` worded as
kube-apiserver's.  `Gate.watch(user)` counts a user's open watches (429 past the cap).  Called by
`app.FastPath` for every request; it must stay cheap (it runs on every create and bind).
"""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl

import orjson

from berth.declarative.apiserver.access import (ANONYMOUS_PATHS, AUTHENTICATED, Attributes, Chain,
                                                Unauthenticated, User, Verdict)
from berth.declarative.apiserver.authn import bearer_token
from berth.declarative.apiserver.http import Reply, problem_response
from berth.declarative.apiserver.status import Problem

USER = "berth.user"
"""The scope key under which handlers find the authenticated `User`."""
UNAUTHORIZED = problem_response(Problem(401, "Unauthorized", "Unauthorized"))
TOO_MANY = Problem(429, "TooManyRequests", "Too many requests, please try again later.",
                   {"retryAfterSeconds": 1})
NO_AUTHORIZER = "no authorizer allowed it"  # the Chain's own fallback reason: upstream adds none
NAMESPACE_SUBRESOURCES = ("status", "finalize")
VERBS = {("GET", False): "list", ("GET", True): "get", ("HEAD", False): "list", ("HEAD", True): "get",
         ("POST", False): "create", ("POST", True): "create", ("PUT", False): "update", ("PUT", True): "update",
         ("PATCH", False): "patch", ("PATCH", True): "patch", ("DELETE", False): "deletecollection",
         ("DELETE", True): "delete"}


def attributes(method: str, path: str, query: bytes) -> Attributes:
    """What the request does, in authorizer terms (upstream's RequestInfo)."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attributes(method.lower(), False, path=path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    name, sub = (rest[1] if len(rest) > 1 else ""), (rest[2] if len(rest) > 2 else "")
    verb = VERBS.get((method, bool(name)), method.lower())
    if verb in ("list", "get") and query and (b"watch" in query or b"fieldSelector" in query):
        verb, name = _watch_or_named(verb, name, query)
    return Attributes(verb, True, group, version, rest[0], sub, namespace, name, path)


def _watch_or_named(verb: str, name: str, query: bytes) -> tuple[str, str]:
    params = dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
    if params.get("watch", "").lower() in ("1", "true"):
        verb = "watch"
    selector = params.get("fieldSelector", "")
    if not name and selector.startswith("metadata.name=") and "," not in selector:
        name = selector[len("metadata.name="):]
    return verb, name


def _q(text: str) -> str:
    return orjson.dumps(text).decode()


def forbidden(user: User, attrs: Attributes, reason: str = "", admission: bool = False) -> Problem:
    """Upstream's 403: '<resource> "<name>" is forbidden: User "u" cannot <verb> ...[: reason]', or with
    `admission` (a refusal upstream makes in an admission plugin) '<resource> "<name>" is forbidden: <reason>'."""
    text = reason if admission and reason else _cannot(user, attrs, reason)
    if not attrs.resource_request:
        return Problem(403, "Forbidden", f"forbidden: {text}", {})
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    named = f"{qualified} {_q(attrs.name)}" if attrs.name else qualified
    details = {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource}
    return Problem(403, "Forbidden", f"{named} is forbidden: {text}", {k: v for k, v in details.items() if v})


def _cannot(user: User, attrs: Attributes, reason: str) -> str:
    """'User "u" cannot <verb> resource ... [: reason]' (the chain's fallback reason is left out)."""
    if not attrs.resource_request:
        text = f"User {_q(user.name)} cannot {attrs.verb} path {_q(attrs.path)}"
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        where = f"in the namespace {_q(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
        text = (f"User {_q(user.name)} cannot {attrs.verb} resource {_q(resource)} in API group"
                f" {_q(attrs.api_group)} {where}")
    return f"{text}: {reason}" if reason and reason != NO_AUTHORIZER else text


class Gate:
    """Runs the chain for each request and counts each user's open watches (at most `max_watches`)."""

    def __init__(self, chain: Chain, max_watches: int = 100) -> None:
        self.chain, self.max_watches = chain, max_watches
        self.watching: dict[str, int] = {}
        self._members: dict[User, User] = {}

    def admit(self, scope: dict) -> Attributes | Reply:
        """The request's attributes when it may go on, else the 401 or 403 to answer."""
        user = self.authenticate(scope)
        path = scope["path"]
        if not isinstance(user, User):
            anonymous = user is None and path in ANONYMOUS_PATHS and scope["method"] in ("GET", "HEAD")
            return Attributes("get", False, path=path) if anonymous else UNAUTHORIZED
        scope[USER] = user
        attrs = attributes(scope["method"], path, scope.get("query_string", b""))
        if not attrs.resource_request and path in ANONYMOUS_PATHS:
            return attrs
        decision = self.chain.authorize(user, attrs)
        if decision.verdict is Verdict.ALLOW:
            return attrs
        return problem_response(forbidden(user, attrs, decision.reason, decision.admission))

    def authenticate(self, scope: dict) -> User | Unauthenticated | None:
        """The user, with system:authenticated; None when no credential came; Unauthenticated for a wrong one
        (a rejected one, or a bearer token no authenticator knows)."""
        answer = self.chain.authenticate(scope)
        if answer is None:
            return None if bearer_token(scope) is None else Unauthenticated("no authenticator knows the token")
        if isinstance(answer, Unauthenticated):
            return answer
        member = self._members.get(answer)
        if member is None:
            member = answer if AUTHENTICATED in answer.groups else \
                User(answer.name, answer.uid, answer.groups + (AUTHENTICATED,), answer.extra)
            if len(self._members) < 10_000:
                self._members[answer] = member
        return member

    @contextlib.contextmanager
    def watch(self, user: User):
        """Counts an open watch of `user` while the block runs; yields the 429 reply past the cap, else None."""
        name = user.name
        if self.watching.get(name, 0) >= self.max_watches:
            reply = problem_response(TOO_MANY)
            reply.raw_headers.append((b"retry-after", b"1"))
            yield reply
            return
        self.watching[name] = self.watching.get(name, 0) + 1
        try:
            yield None
        finally:
            left = self.watching[name] - 1
            if left:
                self.watching[name] = left
            else:
                del self.watching[name]
