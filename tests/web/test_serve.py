"""`berth.web.serve` over a real loopback socket: HTTPS with and without a client certificate (on uvloop
and asyncio), `peer_certificate`, the Host allow-list and the writes' Content-Type check."""

from __future__ import annotations

import json
import socket
import ssl

import httpx
import pytest

from berth.web import TLSFiles, peer, peer_certificate
from tests.web.helpers import make_pki, running


async def app(scope, receive, send):
    """Answers the request's client certificate subject (or null) and the body's length, as JSON."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    certificate = peer_certificate(scope)
    body = json.dumps({"subject": certificate and certificate["subject"], "bytes": size}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def client_context(pki, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if with_certificate:
        context.load_cert_chain(str(pki["client_cert"]), str(pki["client_key"]))
    return context


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_https_shows_the_verified_client_certificate_and_serves_clients_without_one(pki, loop):
    tls = TLSFiles(pki["cert"], pki["key"], client_ca=pki["ca"])
    with running(app, tls=tls, loop=loop) as port:
        for _ in range(3):  # each a new connection: the handshake races the first bytes every time
            with httpx.Client(verify=client_context(pki, True)) as client:
                answer = client.get(f"https://127.0.0.1:{port}/").json()
            assert dict(pair[0] for pair in answer["subject"]) == {"commonName": "alice", "organizationName": "team"}
            with httpx.Client(verify=client_context(pki, False)) as client:
                assert client.get(f"https://localhost:{port}/").json()["subject"] is None
    assert not peer._CERTIFICATES, "certificates are forgotten when their connections close"


def test_a_client_certificate_from_another_ca_fails_the_handshake(pki, tmp_path):
    other = make_pki(tmp_path)
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    context.load_cert_chain(str(other["client_cert"]), str(other["client_key"]))
    with running(app, tls=TLSFiles(pki["cert"], pki["key"], client_ca=pki["ca"])) as port:
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(f"https://127.0.0.1:{port}/", verify=context)


def test_plain_http_has_no_certificate():
    with running(app) as port:
        assert httpx.get(f"http://127.0.0.1:{port}/").json() == {"subject": None, "bytes": 0}


def raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(65536)


@pytest.mark.parametrize("host", [b"evil.example", b"evil.example:80", b"127.0.0.2", b"", b"[::2]:1"])
def test_a_foreign_host_is_misdirected(host):
    with running(app) as port:
        answer = raw_request(port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 421 ")
    assert b'"reason": "MisdirectedRequest"' in answer and b"evil" not in answer


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "api.cluster.local:443"])
def test_loopback_names_and_names_given_are_served(host):
    with running(app, hosts=["api.cluster.local"]) as port:
        answer = raw_request(port, b"GET / HTTP/1.1\r\nHost: " + host.format(port=port).encode() + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp"])
def test_a_write_with_a_body_needs_a_json_yaml_or_protobuf_content_type(content_type):
    headers = {"content-type": content_type} if content_type else {}
    with running(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for method in ("POST", "PUT", "PATCH"):
            answer = client.request(method, "/", content=b'{"a": 1}', headers=headers)
            assert answer.status_code == 415, (method, content_type)
            assert answer.json()["reason"] == "UnsupportedMediaType"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/merge-patch+json", "application/strategic-merge-patch+json",
                                          "application/json-patch+json", "application/apply-patch+yaml",
                                          "application/yaml", "application/vnd.kubernetes.protobuf"])
def test_writes_of_json_yaml_or_protobuf_pass(content_type):
    with running(app) as port:
        answer = httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", headers={"content-type": content_type})
    assert answer.status_code == 200 and answer.json()["bytes"] == 2


def test_a_write_without_a_body_passes_and_checks_can_be_turned_off():
    with running(app) as port:
        assert httpx.put(f"http://127.0.0.1:{port}/traits/CUSTOM_X").status_code == 200
    with running(app, checks=False) as port:
        assert httpx.post(f"http://127.0.0.1:{port}/", content=b"x", headers={"host": "evil"}).status_code == 200


def test_a_write_without_content_type_passes_only_with_a_credential_no_web_page_can_attach(pki):
    """As upstream kube-apiserver reads such a body as JSON; the official Python client creates that way."""
    with running(app) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        assert client.post("/", content=b"{}").status_code == 415
        assert client.post("/", content=b"{}", headers={"authorization": "Bearer t"}).status_code == 200
        typed = client.post("/", content=b"{}", headers={"authorization": "Bearer t", "content-type": "text/plain"})
        assert typed.status_code == 415
    tls = TLSFiles(pki["cert"], pki["key"], client_ca=pki["ca"])
    with running(app, tls=tls) as port:
        for with_certificate, status in ((True, 200), (False, 415)):
            with httpx.Client(verify=client_context(pki, with_certificate)) as client:
                assert client.post(f"https://127.0.0.1:{port}/", content=b"{}").status_code == status


def test_a_server_answers_to_the_address_it_is_bound_to():
    from berth.web.serve import bound_names

    assert bound_names("10.1.2.3") == ("10.1.2.3",) and bound_names("fd00::1") == ("[fd00::1]",)
    assert socket.gethostname() in bound_names("0.0.0.0")
