"""The informer over a real socket against the API server: list-watch into the cache, relist on 410 Gone.

The API server runs in this process under uvicorn on a loopback port, serving TLS with a certificate of
the cluster's PKI (`berth.launch.pki`), over a memory store that keeps only a short history, so a watch
resumed from an old resourceVersion gets 410.  The clients verify it with the CA (`Credentials`).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

import waiting

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.authn import trust_every_caller_as_admin
from berth.declarative.client import Credentials, Informer, KubeClient
from berth.launch.pki import ClusterPKI
from berth.store import open_store


@pytest.fixture
def creds(tmp_path):
    pki = ClusterPKI(tmp_path)
    pki.authority()
    return Credentials(ca_file=str(pki.file("ca.crt")))


@pytest.fixture
def server(tmp_path, creds):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cert, key = ClusterPKI(tmp_path).serving()
    app = create_app(open_store("memory://", retain=20), access=trust_every_caller_as_admin())
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        ssl_certfile=str(cert), ssl_keyfile=str(key)))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{port}"
    client = KubeClient(url, credentials=creds)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.request("GET", "/version")
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    yield url, client
    client.close()
    srv.should_exit = True
    thread.join(timeout=10)


def node(name):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def eventually(check, timeout=10.0):
    return waiting.eventually(check, timeout, interval=0.02)


def test_informer_lists_then_follows_the_watch(server, creds):
    url, client = server
    client.create("nodes", node("a"))
    seen = []
    inf = Informer(url, "nodes", credentials=creds, on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                   on_update=lambda o, n: seen.append(("update", n["metadata"]["name"])),
                   on_delete=lambda o: seen.append(("delete", o["metadata"]["name"]))).start()
    try:
        assert inf.synced.wait(10)
        client.create("nodes", node("b"))
        client.patch("nodes", "b", {"metadata": {"labels": {"x": "y"}}})
        client.delete("nodes", "a")
        eventually(lambda: ("delete", "a") in seen and ("update", "b") in seen)
        assert seen[:2] == [("add", "a"), ("add", "b")]
        assert set(inf.cache) == {"b"} and inf.get("b")["metadata"]["labels"] == {"x": "y"}
    finally:
        inf.stop()


def test_watch_from_a_compacted_revision_relists(server, creds):
    url, client = server
    client.create("nodes", node("first"))
    inf = Informer(url, "nodes", credentials=creds)
    inf._client = KubeClient(url, credentials=creds)
    inf.relist()
    stale = inf.resource_version
    for i in range(60):  # push the history window past `stale`
        client.patch("nodes", "first", {"metadata": {"labels": {"n": str(i)}}})
    client.create("nodes", node("late"))
    events = list(client.watch("nodes", stale, timeout_seconds=1))
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    inf.resource_version = stale
    inf.start()
    try:
        eventually(lambda: inf.get("late") is not None)
        assert inf.relists >= 2 and inf.get("first")["metadata"]["labels"] == {"n": "59"}
    finally:
        inf.stop()
