"""Authenticators (`access.Authenticator`): who sent a request, from its connection or its bearer token.

- `ClientCertificates`: the verified TLS client certificate of the connection; its CN is the user, its O
  entries the groups (as kube-apiserver's --client-ca-file).
- `TokenFile`: upstream's static token file, CSV `token,user,uid,"group1,group2"`; only SHA-256 digests of
  the tokens are kept in memory.
- `ServiceAccountTokens`: JWTs from `serviceaccounts.Issuer`, valid only while their ServiceAccount (and
  the pod they are bound to) still exists with the same uid.
- `trust_every_caller_as_admin()`: a Chain that takes every caller for system:admin in system:masters, for
  in-process tests that are not about access.  Never used by a server.

`__main__` builds the chain; `gate.py` runs it.  A malformed or wrong credential is an `Unauthenticated`
(401), never an exception.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
from collections.abc import Callable, Iterable

import orjson

from berth.declarative.apiserver.access import MASTERS, Chain, Unauthenticated, User
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.serviceaccounts import GROUP, Binding, Issuer

PeerCertificate = Callable[[dict], "dict | None"]
ACCOUNTS, PODS = BY_PLURAL["serviceaccounts"], BY_PLURAL["pods"]
MAX_TOKEN = 8192  # longer bearer tokens are refused before any hashing or parsing


def bearer_token(scope: dict) -> str | None:
    """The request's `Authorization: Bearer` token; None without one ('' for an empty or odd header)."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            if value[:7].lower() != b"bearer " or len(value) > MAX_TOKEN:
                return ""
            return value[7:].strip().decode("latin-1")
    return None


# -- client certificates ---------------------------------------------------------------------------------
def _web_peer_certificate() -> PeerCertificate:
    from berth.web import peer_certificate

    return peer_certificate


class ClientCertificates:
    """CN = user, O = groups, from the connection's client certificate (verified by the TLS layer)."""

    def __init__(self, peer_certificate: PeerCertificate | None = None) -> None:
        self.peer = peer_certificate or _web_peer_certificate()
        self._users: dict[tuple, User | Unauthenticated] = {}

    def authenticate(self, scope: dict) -> User | Unauthenticated | None:
        cert = self.peer(scope)
        if not cert:
            return None
        subject = cert.get("subject") or ()
        user = self._users.get(subject)
        if user is None:
            user = _subject_user(subject)
            if len(self._users) < 4096:
                self._users[subject] = user
        return user


def _subject_user(subject) -> User | Unauthenticated:
    try:
        pairs = [(str(k), str(v)) for rdn in subject for k, v in rdn]
    except (TypeError, ValueError):
        return Unauthenticated("the client certificate's subject cannot be read")
    names = [v for k, v in pairs if k == "commonName"]
    if len(names) != 1 or not names[0]:
        return Unauthenticated("the client certificate has no common name")
    return User(names[0], groups=tuple(v for k, v in pairs if k == "organizationName"))


# -- static tokens ---------------------------------------------------------------------------------------
def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class TokenFile:
    """Bearer tokens from upstream's static token file; a token not in it is left to the next authenticator."""

    def __init__(self, rows: Iterable[list[str]]) -> None:
        self._users: dict[bytes, tuple[bytes, User]] = {}
        for number, row in enumerate(rows, 1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) < 3 or not row[0] or not row[1]:
                raise ValueError(f"token file line {number}: needs token, user name and uid")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            digest = _digest(row[0].strip())
            self._users[digest] = (digest, User(row[1].strip(), row[2].strip(), groups))

    @classmethod
    def from_file(cls, path) -> "TokenFile":
        with open(path, newline="", encoding="utf-8") as f:
            return cls(list(csv.reader(f)))

    def __len__(self) -> int:
        return len(self._users)

    def authenticate(self, scope: dict) -> User | Unauthenticated | None:
        token = bearer_token(scope)
        if not token:
            return None
        digest = _digest(token)
        entry = self._users.get(digest)
        if entry is None or not hmac.compare_digest(entry[0], digest):
            return None
        return entry[1]


# -- ServiceAccount tokens --------------------------------------------------------------------------------
class ServiceAccountTokens:
    """JWTs signed by the ServiceAccount key, checked against the live ServiceAccount and bound pod."""

    def __init__(self, issuer: Issuer, store) -> None:
        self.issuer, self.store = issuer, store

    def authenticate(self, scope: dict) -> User | Unauthenticated | None:
        token = bearer_token(scope)
        if not token or token.count(".") != 2:
            return None
        who = self.issuer.verify(token)
        if who is None:
            return Unauthenticated("invalid service account token")
        problem = self._stale(who)
        if problem:
            return Unauthenticated(problem)
        return _account_user(who)

    def _stale(self, who: Binding) -> str:
        """Why the token no longer holds ('' when it does)."""
        if self._uid(ACCOUNTS.key(who.namespace, who.name)) != who.uid:
            return "the service account of the token no longer exists"
        if who.pod_name and self._uid(PODS.key(who.namespace, who.pod_name)) != who.pod_uid:
            return "the pod the token is bound to no longer exists"
        return ""

    def _uid(self, key: str) -> str | None:
        rec = self.store.get(key)
        if rec is None:
            return None
        meta = orjson.loads(rec.value).get("metadata") or {}
        return None if meta.get("deletionTimestamp") else meta.get("uid")


def _account_user(who: Binding) -> User:
    extra = ()
    if who.pod_name:
        extra = (("authentication.kubernetes.io/pod-name", (who.pod_name,)),
                 ("authentication.kubernetes.io/pod-uid", (who.pod_uid,)))
    return User(f"system:serviceaccount:{who.namespace}:{who.name}", who.uid,
                (GROUP, f"{GROUP}:{who.namespace}"), extra)


# -- for tests that are not about access --------------------------------------------------------------------
ADMIN = User("system:admin", groups=(MASTERS,))


class _EveryCallerIsAdmin:
    def authenticate(self, scope: dict) -> User:
        return ADMIN


def trust_every_caller_as_admin() -> Chain:
    """A Chain that takes every caller, with or without credentials, for system:admin in system:masters."""
    return Chain(authenticators=[_EveryCallerIsAdmin()], authorizers=[])
