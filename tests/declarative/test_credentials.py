"""The cluster's PKI files and the client's credentials: modes, reuse, kubeconfig fields, and KubeClient over TLS.

A small uvicorn server on loopback, serving TLS with the PKI's serving certificate and demanding a client
certificate signed by its CA, echoes the Authorization header it received; `KubeClient` talks to it on both
of its transports (unary calls over `wire`, a watch over httpx).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time

import httpx
import pytest
import uvicorn
import yaml

from berth.declarative.client import Credentials, KubeClient, KubeconfigError
from berth.launch.pki import ADMIN, ClusterPKI, node_user, read_tokens, write_kubeconfig


def mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture()
def pki(tmp_path):
    p = ClusterPKI(tmp_path)
    p.serving()
    p.pair("admin", *ADMIN)
    p.service_account_key()
    p.kubelet_token()
    p.tokens({node_user("n0"): ("system:nodes",), node_user("n1"): ("system:nodes",)})
    return p


def test_every_secret_is_0600_and_the_directory_0700(pki, tmp_path):
    assert mode(pki.dir) == 0o700
    files = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert {f.name for f in files} >= {"ca.key", "apiserver.key", "admin.key", "service-account.key",
                                       "kubelet-token", "tokens.csv"}
    assert all(mode(f) == 0o600 for f in files), {f.name: oct(mode(f)) for f in files}


def test_a_restart_reuses_the_ca_certificates_and_tokens(pki, tmp_path):
    before = {f.name: f.read_bytes() for f in tmp_path.rglob("*") if f.is_file()}
    again = ClusterPKI(tmp_path)
    again.serving()
    again.pair("admin", *ADMIN)
    again.service_account_key()
    again.kubelet_token()
    again.tokens({node_user("n0"): ("system:nodes",), node_user("n1"): ("system:nodes",)})
    assert {f.name: f.read_bytes() for f in tmp_path.rglob("*") if f.is_file()} == before


def test_a_new_server_name_reissues_only_the_serving_certificate(pki, tmp_path):
    ca, admin = pki.file("ca.crt").read_bytes(), pki.file("admin.crt").read_bytes()
    old = pki.file("apiserver.crt").read_bytes()
    ClusterPKI(tmp_path).serving(("berth.example",))
    assert pki.file("apiserver.crt").read_bytes() != old
    assert (pki.file("ca.crt").read_bytes(), pki.file("admin.crt").read_bytes()) == (ca, admin)


def test_the_token_file_is_upstreams_csv_and_keeps_tokens(pki, tmp_path):
    lines = (tmp_path / "tokens.csv").read_text().splitlines()
    token, user, uid, groups = lines[0].split(",")
    assert (user, uid, groups) == ("system:node:n0", "system:node:n0", "system:nodes") and len(token) >= 40
    kept = read_tokens(tmp_path / "tokens.csv")
    assert pki.tokens({node_user("n1"): ("system:nodes",)}) == {node_user("n1"): kept[node_user("n1")]}


def test_no_ca_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no cluster CA"):
        ClusterPKI(tmp_path).authority(create=False)


# ---- kubeconfig -------------------------------------------------------------------------------------
def test_a_written_kubeconfig_embeds_the_ca_and_certificate(pki, tmp_path):
    path = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:1", pki.file("ca.crt"), pki.pair("admin", *ADMIN))
    assert mode(path) == 0o600
    config = yaml.safe_load(path.read_text())
    user = config["users"][0]["user"]
    assert base64.b64decode(user["client-key-data"]) == pki.file("admin.key").read_bytes()
    creds = Credentials.from_kubeconfig(path)
    assert creds.server == "https://127.0.0.1:1" and creds.ca_data == pki.file("ca.crt").read_bytes()
    assert creds.cert_data == pki.file("admin.crt").read_bytes() and creds.token is None


def test_kubeconfig_paths_token_file_and_context(tmp_path):
    (tmp_path / "tok").write_text("s3cret-token\n")
    config = {"current-context": "b", "clusters": [{"name": "c", "cluster": {"server": "https://h:1",
                                                                             "certificate-authority": "ca.crt"}}],
              "users": [{"name": "u", "user": {"tokenFile": "tok", "client-certificate": "/abs/u.crt",
                                                "client-key": "u.key"}}],
              "contexts": [{"name": "a", "context": {"cluster": "c"}}, {"name": "b", "context": {"cluster": "c",
                                                                                                 "user": "u"}}]}
    (tmp_path / "kc").write_text(yaml.safe_dump(config))
    creds = Credentials.from_kubeconfig(tmp_path / "kc")
    assert creds.ca_file == str(tmp_path / "ca.crt") and creds.token == "s3cret-token"
    assert (creds.cert_file, creds.key_file) == ("/abs/u.crt", str(tmp_path / "u.key"))
    assert "s3cret" not in repr(creds)
    assert Credentials.from_kubeconfig(tmp_path / "kc", context="a").token is None
    with pytest.raises(KubeconfigError, match="no context named 'z'"):
        Credentials.from_kubeconfig(tmp_path / "kc", context="z")


def test_a_token_that_cannot_be_a_header_is_refused_without_echoing_it():
    with pytest.raises(KubeconfigError) as err:
        Credentials(token="abc\r\nX-Evil: 1")
    assert "Evil" not in str(err.value)


# ---- KubeClient over TLS ----------------------------------------------------------------------------------
async def echo(scope, receive, send):
    """Answers every request with the Authorization header it carried (a watch: the same, as one event line)."""
    if scope["type"] != "http":
        return
    auth = dict(scope["headers"]).get(b"authorization", b"").decode()
    body = {"metadata": {"name": "x"}, "auth": auth}
    if b"watch=1" in scope["query_string"]:
        body = {"type": "ADDED", "object": body}
    data = json.dumps(body).encode() + b"\n"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": data})


@pytest.fixture()
def server(pki):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    cert, key = pki.serving()
    config = uvicorn.Config(echo, log_config=None, log_level="warning", lifespan="off", timeout_keep_alive=1,
                            ssl_certfile=str(cert), ssl_keyfile=str(key), ssl_ca_certs=str(pki.file("ca.crt")),
                            ssl_cert_reqs=ssl.CERT_REQUIRED)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(5)


def admin_creds(pki, token=None):
    cert, key = pki.pair("admin", *ADMIN)
    return Credentials(ca_file=str(pki.file("ca.crt")), cert_file=str(cert), key_file=str(key), token=token)


def test_unary_calls_and_watches_go_over_tls_with_the_token(pki, server):
    client = KubeClient(server, credentials=admin_creds(pki, "tok-a"))
    try:
        assert client.get("pods", "x", "default")["auth"] == "Bearer tok-a"
        assert client.for_token("tok-b").get("pods", "x", "default")["auth"] == "Bearer tok-b"
        assert client.get("pods", "x", "default")["auth"] == "Bearer tok-a"
        event = next(client.watch("pods", "1", "default"))
        assert event["object"]["auth"] == "Bearer tok-a"
        time.sleep(1.5)  # the server closes the idle keep-alive connection: retried once, transparently
        assert client.get("pods", "x", "default")["auth"] == "Bearer tok-a"
    finally:
        client.close()


def test_in_memory_pem_from_a_kubeconfig_works(pki, server, tmp_path):
    path = write_kubeconfig(tmp_path / "kc", server, pki.file("ca.crt"), pki.pair("admin", *ADMIN))
    creds = Credentials.from_kubeconfig(path)
    client = KubeClient(creds.server, credentials=creds)
    try:
        assert client.get("pods", "x", "default")["auth"] == ""
    finally:
        client.close()


def test_a_server_outside_the_ca_or_without_a_client_certificate_fails(pki, server, tmp_path):
    other = ClusterPKI(tmp_path / "other")
    other.authority()
    stranger = KubeClient(server, credentials=Credentials(ca_file=str(other.file("ca.crt"))))
    anonymous = KubeClient(server, credentials=Credentials(ca_file=str(pki.file("ca.crt"))))
    for client in (stranger, anonymous):
        with pytest.raises(httpx.TransportError):
            client.get("pods", "x", "default")
        client.close()
