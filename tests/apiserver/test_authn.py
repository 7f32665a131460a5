"""Authentication at the API server: anonymous 401s, token-file users, client-certificate users, ServiceAccount
tokens (TokenRequest, and their end with the ServiceAccount or pod), malformed credentials, the watch cap.

In process over the ASGI transport; a client certificate comes from a stand-in for `berth.web.peer_certificate`
that reads a test header; the real TLS socket is in test_authn_tls.py."""

from __future__ import annotations

import os
import threading

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.access import ALLOW, NO_OPINION, Chain
from berth.declarative.apiserver.authn import ClientCertificates, ServiceAccountTokens, TokenFile
from berth.declarative.apiserver.serviceaccounts import ISSUER, Binding, Issuer
from berth.store import MemoryStore

from tests.apiserver.conftest import pod, serving

ADMIN_TOKEN, ALICE_TOKEN = "admin-token-0123456789", "alice-token-0123456789"
TOKENS = [[ADMIN_TOKEN, "admin", "1", "system:masters"], [ALICE_TOKEN, "alice", "42", "dev,ops"]]
SA = "/api/v1/namespaces/default/serviceaccounts"
WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}

pytestmark = pytest.mark.anyio


class AllowAuthenticated:
    """Lets every authenticated user do anything, except the user 'bob'."""

    def authorize(self, user, attrs):
        return NO_OPINION if user.name == "bob" else ALLOW


def fake_peer(scope: dict):
    """The client certificate of the test header `x-test-cert: CN[/O1,O2]`, as getpeercert() gives it."""
    raw = dict(scope["headers"]).get(b"x-test-cert")
    if raw is None:
        return None
    cn, _, orgs = raw.decode().partition("/")
    subject = [(("commonName", cn),)] + [(("organizationName", o),) for o in orgs.split(",") if o]
    return {"subject": tuple(subject)}


@pytest.fixture
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def issuer(key):
    return Issuer(key)


@pytest.fixture
def app(issuer):
    store = MemoryStore()
    chain = Chain([ClientCertificates(fake_peer), TokenFile(TOKENS), ServiceAccountTokens(issuer, store)],
                  [AllowAuthenticated()])
    return create_app(store, access=chain, issuer=issuer, max_watches=2)


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)


async def whoami(client, headers) -> httpx.Response:
    return await client.post(WHOAMI, json=REVIEW, headers=headers)


async def test_anonymous_gets_401_except_on_health_and_version(client):
    for path in ("/api/v1/namespaces/default/pods", "/api/v1/nodes", "/apis", "/api", "/openapi/v3"):
        r = await client.get(path)
        assert r.status_code == 401, path
        assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    r = await client.post("/api/v1/namespaces/default/pods", json=pod("x"))
    assert r.status_code == 401
    assert (await client.delete("/api/v1/nodes")).status_code == 401
    for path in ("/version", "/healthz", "/livez", "/readyz"):
        assert (await client.get(path)).status_code == 200, path


async def test_a_wrong_or_odd_credential_is_401_even_where_anonymous_is_allowed(client):
    for headers in (bearer("no-such-token"), {"authorization": "Basic YWRtaW46YWRtaW4="}, bearer(""),
                    bearer("x" * 9000)):
        assert (await client.get("/api/v1/namespaces/default/pods", headers=headers)).status_code == 401
        assert (await client.get("/healthz", headers=headers)).status_code == 401


async def test_token_file_user_is_recognised_with_uid_and_groups(client):
    r = await whoami(client, bearer(ALICE_TOKEN))
    assert r.status_code == 201
    assert r.json()["status"]["userInfo"] == {"username": "alice", "uid": "42",
                                              "groups": ["dev", "ops", "system:authenticated"]}
    assert r.json()["kind"] == "SelfSubjectReview"
    assert (await client.get(WHOAMI, headers=ADMIN)).status_code == 405  # create-only: never stored or listed


async def test_client_certificate_user_is_recognised(client):
    r = await whoami(client, {"x-test-cert": "berth-admin/system:masters"})
    assert r.json()["status"]["userInfo"] == {"username": "berth-admin",
                                              "groups": ["system:masters", "system:authenticated"]}
    r = await client.get("/api/v1/namespaces/default/pods", headers={"x-test-cert": "/system:masters"})
    assert r.status_code == 401  # a certificate without a common name


async def test_denied_user_gets_upstreams_403(client):
    r = await client.delete("/api/v1/namespaces/default/pods/x", headers={"x-test-cert": "bob"})
    assert r.status_code == 403
    assert r.json()["message"] == ('pods "x" is forbidden: User "bob" cannot delete resource "pods" in API group ""'
                                   ' in the namespace "default"')
    assert r.json()["details"] == {"name": "x", "kind": "pods"}  # empty fields omitted, as upstream


def test_token_file_keeps_no_token_in_memory():
    tokens = TokenFile(TOKENS)
    assert len(tokens) == 2
    assert ALICE_TOKEN not in repr(vars(tokens))
    with pytest.raises(ValueError, match="line 1") as err:
        TokenFile([["secret-token-value", ""]])
    assert "secret-token-value" not in str(err.value)


async def token_for(client, name: str, **spec) -> str:
    r = await client.post(f"{SA}/{name}/token", headers=ADMIN,
                          json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    assert r.status_code == 201, r.text
    return r.json()["status"]["token"]


async def test_service_account_token_works_until_the_account_is_deleted(client):
    assert (await client.post(SA, json={"metadata": {"name": "robot"}}, headers=ADMIN)).status_code == 201
    token = await token_for(client, "robot")
    info = (await whoami(client, bearer(token))).json()["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:default:robot"
    assert info["groups"] == ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]
    assert (await client.get("/api/v1/namespaces/default/pods", headers=bearer(token))).status_code == 200
    assert (await client.delete(f"{SA}/robot", headers=ADMIN)).status_code == 200
    assert (await client.get("/api/v1/namespaces/default/pods", headers=bearer(token))).status_code == 401
    assert (await client.post(SA, json={"metadata": {"name": "robot"}}, headers=ADMIN)).status_code == 201
    assert (await whoami(client, bearer(token))).status_code == 401  # same name, another uid


async def test_token_bound_to_a_pod_ends_with_the_pod(client):
    await client.post(SA, json={"metadata": {"name": "robot"}}, headers=ADMIN)
    created = (await client.post("/api/v1/namespaces/default/pods", json=pod("p"), headers=ADMIN)).json()
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": created["metadata"]["uid"]}
    token = await token_for(client, "robot", boundObjectRef=ref)
    info = (await whoami(client, bearer(token))).json()["status"]["userInfo"]
    assert info["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
    await client.delete("/api/v1/namespaces/default/pods/p", headers=ADMIN)
    assert (await whoami(client, bearer(token))).status_code == 401


async def test_token_request_checks_its_spec(client):
    await client.post(SA, json={"metadata": {"name": "robot"}}, headers=ADMIN)
    url = f"{SA}/robot/token"
    r = await client.post(url, headers=ADMIN, json={"spec": {"expirationSeconds": 599}})
    assert r.status_code == 422 and "less than 10 minutes" in r.json()["message"]
    r = await client.post(url, headers=ADMIN, json={"spec": {"expirationSeconds": 10 ** 9}})
    assert r.status_code == 201 and r.json()["spec"]["expirationSeconds"] == 48 * 3600  # clamped
    r = await client.post(url, headers=ADMIN, json={"spec": {"boundObjectRef": {"kind": "Pod", "name": "gone"}}})
    assert r.status_code == 404
    assert (await client.post(f"{SA}/nobody/token", headers=ADMIN, json={"spec": {}})).status_code == 404


async def test_malformed_and_foreign_jwts_are_401_not_500(client, issuer):
    await client.post(SA, json={"metadata": {"name": "robot"}}, headers=ADMIN)
    uid = (await client.get(f"{SA}/robot", headers=ADMIN)).json()["metadata"]["uid"]
    good = Binding("default", "robot", uid)
    other = Issuer(ec.generate_private_key(ec.SECP256R1()))
    expired = Issuer(issuer.key, clock=lambda: 1_000_000).sign(good, (ISSUER,), 600)[0]
    claims = {"iss": ISSUER, "aud": [ISSUER], "sub": "system:serviceaccount:default:robot", "exp": 4 * 10 ** 9,
              "iat": 1, "nbf": 1, "kubernetes.io": {"namespace": "default", "serviceaccount": "robot"}}
    odd = jwt.encode(claims, issuer.key, algorithm="ES256")
    wrong_aud = issuer.sign(good, ("someone-else",), 600)[0]
    none_alg = jwt.encode({**claims, "alg": "none"}, None, algorithm="none")
    for token in ("a.b.c", "eyJhbGciOiJFUzI1NiJ9.eyJ.x", "..", other.sign(good, (ISSUER,), 600)[0], expired, odd,
                  wrong_aud, none_alg, "é.é.é"):
        r = await client.get("/api/v1/namespaces/default/pods", headers={"authorization": f"Bearer {token}".encode()})
        assert r.status_code == 401, token


async def test_discovery_lists_the_new_kinds(client):
    core = (await client.get("/api/v1", headers=ADMIN)).json()["resources"]
    by_name = {r["name"]: r for r in core}
    assert by_name["serviceaccounts/token"]["verbs"] == ["create"]
    assert by_name["serviceaccounts"]["shortNames"] == ["sa"]
    group = (await client.get("/apis/authentication.k8s.io/v1", headers=ADMIN)).json()["resources"]
    assert [(r["name"], r["verbs"]) for r in group] == [("selfsubjectreviews", ["create"])]


def test_watch_cap_per_user_answers_429(app):
    """Two open watches per user here: the third gets 429 with a Status; another user still may watch."""
    url = "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=30"
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        opened = []
        try:
            for _ in range(2):
                stream = http.stream("GET", url, headers=bearer(ALICE_TOKEN))
                response = stream.__enter__()
                opened.append(stream)
                assert response.status_code == 200
            third = http.get(url, headers=bearer(ALICE_TOKEN))
            assert third.status_code == 429
            assert third.json()["reason"] == "TooManyRequests" and third.headers["retry-after"] == "1"
            other = http.stream("GET", url, headers=ADMIN)
            assert other.__enter__().status_code == 200
            opened.append(other)
        finally:
            for stream in opened:
                stream.__exit__(None, None, None)


def test_apiserver_refuses_to_start_without_tls_or_insecure(capsys):
    from berth.declarative.apiserver.__main__ import NEEDS_TLS, main

    with pytest.raises(SystemExit) as exit_:
        main(["--store", "memory://"])
    assert NEEDS_TLS in str(exit_.value) and "\n" not in str(exit_.value)
