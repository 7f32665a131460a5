"""Who is asking and may they: the contracts of the API server's authentication and authorisation.

A request passes two stages before its handler runs, as in kube-apiserver:

1. **Authentication.** Each `Authenticator` looks at the request (its ASGI scope: the TLS client
   certificate of its connection, the `Authorization` header) and answers a `User`, `None` (no opinion:
   the next authenticator is asked) or an `Unauthenticated` (the credential was presented and is wrong:
   401 at once).  When none answers, the request is anonymous and gets 401, except the few paths in
   `ANONYMOUS_PATHS`.
2. **Authorisation.** Each `Authorizer` answers a `Decision` for the user and the request's
   `Attributes`: ALLOW, DENY (final) or NO_OPINION (the next one is asked).  When all have no opinion
   the request is forbidden (403).

Implementations: `authn.py` (client certificates, bearer tokens, ServiceAccount tokens), `rbac.py`
(Role, ClusterRole and their bindings), `noderestriction.py` (what a node's credential may do).
`app.py` builds the chain and calls it once per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

ANONYMOUS_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
"""Paths anyone may read without credentials (upstream's system:public-info-viewer)."""

MASTERS = "system:masters"
"""The group that every authorizer lets through, as upstream's."""

AUTHENTICATED = "system:authenticated"
"""The group every authenticated user is in, added by the chain."""


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated identity: name, uid, groups (without system:authenticated) and extra fields."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Unauthenticated:
    """A credential was presented and rejected; `reason` goes to the log, never to the client."""

    reason: str


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request does, in upstream's authorizer.Attributes terms.

    Resource requests set `resource` (plural), `subresource`, `api_group`, `namespace` and `name`, and the
    verb is one of get, list, watch, create, update, patch, delete, deletecollection.  Non-resource
    requests (discovery, OpenAPI, health) set `path` and the verb is the lower-case HTTP method."""

    verb: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


class Verdict(Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    admission: bool = False
    """The reason is the whole refusal, worded as upstream's admission plugins (NodeRestriction) answer it:
    the 403 reads '<resource> "<name>" is forbidden: <reason>', without the 'User "u" cannot ...' part."""


ALLOW = Decision(Verdict.ALLOW)
NO_OPINION = Decision(Verdict.NO_OPINION)


class Authenticator(Protocol):
    """Contract: `authenticate(scope)` never raises for bad input and never does blocking I/O; it reads the
    request's headers and connection only (never its body), and is cheap enough to run on every request."""

    def authenticate(self, scope: dict) -> User | Unauthenticated | None: ...


class Authorizer(Protocol):
    """Contract: `authorize(user, attrs)` is pure over the authorizer's current view of its policy (no I/O
    on the request path), never raises for any user or attributes, and answers NO_OPINION for what it does
    not govern."""

    def authorize(self, user: User, attrs: Attributes) -> Decision: ...


@dataclass
class Chain:
    """Authenticators and authorizers in order; what `app.py` runs for every request."""

    authenticators: list[Authenticator] = field(default_factory=list)
    authorizers: list[Authorizer] = field(default_factory=list)

    def authenticate(self, scope: dict) -> User | Unauthenticated | None:
        for authenticator in self.authenticators:
            answer = authenticator.authenticate(scope)
            if answer is not None:
                return answer
        return None

    def authorize(self, user: User, attrs: Attributes) -> Decision:
        if MASTERS in user.groups:
            return ALLOW
        for authorizer in self.authorizers:
            decision = authorizer.authorize(user, attrs)
            if decision.verdict is not Verdict.NO_OPINION:
                return decision
        return Decision(Verdict.DENY, "no authorizer allowed it")
