"""ServiceAccount tokens: the ES256 `Issuer` that signs and verifies them, and the `serviceaccounts/token`
subresource (a TokenRequest) that hands them out.

Tokens carry upstream's bound-token claims: `iss`, `sub` (`system:serviceaccount:<ns>:<name>`), `aud`,
`exp`, `iat`, `nbf`, `jti` and `kubernetes.io` (namespace, the ServiceAccount's name and uid, and the pod's
when the token is bound to one).  The key is the `--service-account-key-file` EC P-256 key.  Callers:
`authn.ServiceAccountTokens` (verify), the ROUTES table in app.py (`token_request`), `__main__` (the key).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from berth.declarative.apiserver import noderestriction
from berth.declarative.apiserver import status as st
from berth.declarative.apiserver.http import Call, problem_response, respond
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.declarative.apiserver.status import Problem
from berth.model.timestamps import rfc3339

ISSUER = "https://kubernetes.default.svc.cluster.local"
"""Upstream's default --service-account-issuer, which is also the default audience (--api-audiences)."""
MIN_SECONDS, MAX_REQUESTABLE, DEFAULT_SECONDS = 600, 1 << 32, 3600
PODS, ACCOUNTS = BY_PLURAL["pods"], BY_PLURAL["serviceaccounts"]
GROUP = "system:serviceaccounts"


@dataclass(frozen=True, slots=True)
class Binding:
    """Whose token: the ServiceAccount (namespace, name, uid) and the pod it is bound to, if any."""

    namespace: str
    name: str
    uid: str
    pod_name: str = ""
    pod_uid: str = ""


def subject(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


class Issuer:
    """Signs and verifies ServiceAccount tokens with one EC key; `max_seconds` caps a token's lifetime."""

    def __init__(self, private_key, *, issuer: str = ISSUER, audiences: tuple[str, ...] = (ISSUER,),
                 max_seconds: int = 48 * 3600, clock=time.time) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise ValueError("the service account key must be an EC P-256 private key")
        self.key, self.public = private_key, private_key.public_key()
        self.issuer, self.audiences, self.max_seconds, self.clock = issuer, audiences, max_seconds, clock

    @classmethod
    def from_file(cls, path, **options) -> "Issuer":
        with open(path, "rb") as f:
            return cls(load_pem_private_key(f.read(), password=None), **options)

    def sign(self, who: Binding, audiences: tuple[str, ...], seconds: int) -> tuple[str, int]:
        """(token, expiry as a Unix time)."""
        now = int(self.clock())
        scope = {"namespace": who.namespace, "serviceaccount": {"name": who.name, "uid": who.uid}}
        if who.pod_name:
            scope["pod"] = {"name": who.pod_name, "uid": who.pod_uid}
        claims = {"iss": self.issuer, "sub": subject(who.namespace, who.name), "aud": list(audiences),
                  "exp": now + seconds, "iat": now, "nbf": now, "jti": str(uuid.uuid4()), "kubernetes.io": scope}
        return jwt.encode(claims, self.key, algorithm="ES256"), now + seconds

    def verify(self, token: str) -> Binding | None:
        """The token's binding if its signature, issuer, audience and times are good, else None."""
        try:
            claims = jwt.decode(token, self.public, algorithms=["ES256"], audience=list(self.audiences),
                                issuer=self.issuer, options={"require": ["exp", "iat", "nbf", "sub"]})
            return _binding(claims)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AttributeError):
            return None


def _binding(claims: dict) -> Binding | None:
    scope = claims["kubernetes.io"]
    ns, account = scope["namespace"], scope["serviceaccount"]
    pod = scope.get("pod") or {}
    who = Binding(ns, account["name"], account["uid"], pod.get("name", ""), pod.get("uid", ""))
    if not all(isinstance(v, str) for v in (who.namespace, who.name, who.uid, who.pod_name, who.pod_uid)):
        return None
    return who if claims["sub"] == subject(who.namespace, who.name) else None


# -- the serviceaccounts/token subresource ------------------------------------------------------------------
def _spec(body, issuer: Issuer) -> tuple[tuple[str, ...], int, dict] | Problem:
    """(audiences, seconds, boundObjectRef) of a TokenRequest body, or the Problem with it."""
    spec = body.get("spec") if isinstance(body, dict) else None
    if not isinstance(spec, dict):
        return st.bad_request("the body must be a TokenRequest with a spec")
    audiences = spec.get("audiences") or list(issuer.audiences)
    seconds = spec.get("expirationSeconds", DEFAULT_SECONDS)
    ref = spec.get("boundObjectRef") or {}
    if not isinstance(audiences, list) or not all(isinstance(a, str) and a for a in audiences):
        return _invalid("spec.audiences", "must be a list of non-empty strings")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < MIN_SECONDS:
        return _invalid("spec.expirationSeconds", "may not specify a duration less than 10 minutes")
    if seconds > MAX_REQUESTABLE:
        return _invalid("spec.expirationSeconds", "may not specify a duration larger than 2^32 seconds")
    if not isinstance(ref, dict):
        return _invalid("spec.boundObjectRef", "must be an object")
    return tuple(audiences), min(seconds, issuer.max_seconds), ref


def _invalid(field_path: str, message: str) -> Problem:
    causes = [st.cause(field_path, message)]
    return Problem(422, "Invalid", f'TokenRequest.authentication.k8s.io "" is invalid: {field_path}: {message}',
                   {"group": "authentication.k8s.io", "kind": "TokenRequest", "causes": causes})


def _bound_pod(api, namespace: str, ref: dict) -> dict | None | Problem:
    """The pod a TokenRequest binds to (None: not bound), or the Problem with the reference."""
    if not ref:
        return None
    if ref.get("kind") != "Pod" or ref.get("apiVersion", "v1") != "v1":
        return st.bad_request(f"cannot bind token to object of type {ref.get('kind')!s:.64}")
    pod = api.registry.get(PODS, namespace, str(ref.get("name") or ""))
    if isinstance(pod, Problem):
        return pod
    if ref.get("uid") and ref["uid"] != pod["metadata"].get("uid"):
        return st.conflict(PODS, pod["metadata"]["name"], "the UID in the bound object reference does not"
                           " match the UID in record; the object might have been deleted and then recreated")
    return pod


async def token_request(api, call: Call):
    """POST .../serviceaccounts/{name}/token: a token for the ServiceAccount, optionally bound to a pod."""
    issuer: Issuer | None = getattr(api, "issuer", None)
    if issuer is None:
        return problem_response(st.not_found_path(call.request.url.path))
    body = await call.body()
    if isinstance(body, Problem):
        return problem_response(body)
    user = call.request.scope.get("berth.user")  # gate.USER (the gate imports this module)
    denied = noderestriction.admit_token_request(user, api.store, call.namespace, call.name, body) if user else None
    spec = _spec(body, issuer)
    account = api.registry.get(ACCOUNTS, call.namespace, call.name)
    pod = _bound_pod(api, call.namespace, spec[2]) if not isinstance(spec, Problem) else None
    for problem in (denied, spec, account, pod):
        if isinstance(problem, Problem):
            return problem_response(problem)
    audiences, seconds, ref = spec
    pod_meta = pod["metadata"] if pod else {}
    who = Binding(call.namespace, call.name, account["metadata"]["uid"], pod_meta.get("name", ""),
                  pod_meta.get("uid", ""))
    token, expires = issuer.sign(who, audiences, seconds)
    bound = {**ref, "uid": pod_meta.get("uid")} if pod else None
    return respond(_token_request(who, audiences, seconds, bound, token, expires), 201)


def _token_request(who: Binding, audiences, seconds: int, bound: dict | None, token: str, expires: int) -> dict:
    spec = {"audiences": list(audiences), "expirationSeconds": seconds, "boundObjectRef": bound}
    when = rfc3339(expires)
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": who.name, "namespace": who.namespace, "creationTimestamp": None},
            "spec": spec, "status": {"token": token, "expirationTimestamp": when}}
