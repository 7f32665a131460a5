"""Fixtures for the API server tests: an app over a fresh store, in process (httpx ASGI) or on a real socket."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.authn import trust_every_caller_as_admin
from berth.store import MemoryStore


@contextlib.contextmanager
def serving(app, **options):
    """Run `app` with uvicorn on a free loopback port in a thread (`options`: more of uvicorn's Config, such as
    ssl_certfile and ssl_keyfile for HTTPS); yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=1, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"{'https' if 'ssl_certfile' in options else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def app():
    return create_app(MemoryStore(), access=trust_every_caller_as_admin())


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://berth") as c:
        yield c


@pytest.fixture
def live_url(app):
    with serving(app) as url:
        yield url


def pod(name: str, **spec) -> dict:
    container = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"]}
    container.update(spec.pop("container", {}))
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": spec.pop("labels", {"app": "t"})},
            "spec": {"containers": [container], **spec}}
    return body


def deployment(name: str, replicas: int = 3) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}}}


@pytest.fixture
def anyio_backend():
    return "asyncio"
