"""Authentication over a real TLS socket, with the server `python -m berth.declarative.apiserver` builds (its chain,
the node authorizer, RBAC and the default roles): client certificates and tokens are recognised, anonymous and
wrong credentials get 401, a ServiceAccount token stops working with its account, and `kubectl auth whoami`
names the certificate's user."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time

import httpx
import pytest

from berth import web
from berth.declarative.apiserver.__main__ import build, parser
from berth.launch.pki import ClusterPKI, kubeconfig
from berth.launch.ports import free_port

WHOAMI = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
SA = "/api/v1/namespaces/default/serviceaccounts"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """(base URL, PKI, tokens) of a TLS API server on a loopback port, stopped after the module."""
    home = tmp_path_factory.mktemp("cluster")
    pki = ClusterPKI(home)
    cert, key = pki.serving()
    tokens = pki.tokens({"carol": ("ops",)})
    port = free_port()
    args = parser().parse_args(["--store", "memory://", "--port", str(port), "--tls-cert-file", str(cert),
                                "--tls-private-key-file", str(key), "--client-ca-file", str(pki.file("ca.crt")),
                                "--token-auth-file", str(pki.tokens_file),
                                "--service-account-key-file", str(pki.service_account_key())])
    tls = web.TLSFiles(cert, key, pki.file("ca.crt"))
    server = web.server(build(args), "127.0.0.1", port, tls=tls, timeout_graceful_shutdown=1)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"https://127.0.0.1:{port}", pki, tokens
    server.should_exit = True
    thread.join(10)


def client(cluster, *, cert: tuple | None = None, token: str | None = None) -> httpx.Client:
    base, pki, _ = cluster
    context = ssl.create_default_context(cafile=str(pki.file("ca.crt")))
    if cert:
        context.load_cert_chain(*(str(p) for p in cert))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, verify=context, headers=headers, timeout=10)


def user_info(http: httpx.Client) -> dict:
    r = http.post(WHOAMI, json=REVIEW)
    assert r.status_code == 201, r.text
    return r.json()["status"]["userInfo"]


def test_anonymous_and_wrong_credentials_get_401(cluster):
    with client(cluster) as anonymous:
        assert anonymous.get("/api/v1/namespaces/default/pods").status_code == 401
        assert anonymous.delete("/api/v1/nodes").status_code == 401
        assert anonymous.get("/version").status_code == 200 and anonymous.get("/healthz").status_code == 200
    with client(cluster, token="not-a-token") as wrong:
        assert wrong.get("/api/v1/namespaces/default/pods").status_code == 401
    with client(cluster, token="a.b.c") as malformed:
        assert malformed.get("/api/v1/namespaces/default/pods").status_code == 401


def test_certificate_and_token_users_are_recognised(cluster):
    _, pki, tokens = cluster
    admin = pki.pair("admin", "berth-admin", ("system:masters",))
    with client(cluster, cert=admin) as http:
        assert user_info(http) == {"username": "berth-admin", "groups": ["system:masters", "system:authenticated"]}
        assert http.get("/api/v1/namespaces/default/pods").status_code == 200
    alice = pki.pair("alice", "alice", ("dev", "qa"))
    with client(cluster, cert=alice) as http:
        assert user_info(http) == {"username": "alice", "groups": ["dev", "qa", "system:authenticated"]}
        r = http.delete("/api/v1/namespaces/default/pods/x")
        assert r.status_code == 403
        assert r.json()["message"] == ('pods "x" is forbidden: User "alice" cannot delete resource "pods" in API'
                                       ' group "" in the namespace "default"')
    with client(cluster, token=tokens["carol"]) as http:
        assert user_info(http) == {"username": "carol", "uid": "carol", "groups": ["ops", "system:authenticated"]}


def test_service_account_token_over_tls_ends_with_its_account(cluster):
    _, pki, _ = cluster
    with client(cluster, cert=pki.pair("admin", "berth-admin", ("system:masters",))) as admin:
        assert admin.post(SA, json={"metadata": {"name": "builder"}}).status_code == 201
        r = admin.post(f"{SA}/builder/token", json={"spec": {"expirationSeconds": 600}})
        assert r.status_code == 201
        token = r.json()["status"]["token"]
        with client(cluster, token=token) as robot:
            assert user_info(robot)["username"] == "system:serviceaccount:default:builder"
            assert admin.delete(f"{SA}/builder").status_code == 200
            assert robot.post(WHOAMI, json=REVIEW).status_code == 401


def test_kubectl_auth_whoami_names_the_certificate_user(cluster, tmp_path):
    base, pki, _ = cluster
    cert, key = pki.pair("alice", "alice", ("dev", "qa"))
    config = tmp_path / "kubeconfig"
    config.write_bytes(kubeconfig(base, pki.file("ca.crt").read_bytes(), cert_pem=cert.read_bytes(),
                                  key_pem=key.read_bytes(), user="alice"))
    out = subprocess.run(["kubectl", "--kubeconfig", str(config), "auth", "whoami", "-o", "json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)["status"]["userInfo"]
    assert info == {"username": "alice", "groups": ["dev", "qa", "system:authenticated"]}
