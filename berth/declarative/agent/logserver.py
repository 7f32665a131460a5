"""`LogServer`: the node agents' log endpoint, the kubelet's `/containerLogs/{ns}/{pod}[/{container}]`.

A small Starlette app served by uvicorn (through `berth.web.server`) on its own thread, on a loopback port
the kernel picks (bound at construction, so `port` is known before the Nodes that publish it in
`daemonEndpoints` are registered).
Query parameters: `tailLines`, `previous=true`, and `follow=true`, which streams the log as it grows until
the container stops, the host stops or the client goes away.  The API server's `pods/log` proxies here.
`AgentHost` owns one; `source` is anything with the host's `logs`, `container_done` and `stopping`.

Only the API server may ask, and only for the node whose pod it asks about: the server is given the shared
secret (`token`, the API server's `--kubelet-token-file`) and the `nodes` it serves, and a request must carry
`Authorization: Bearer <node_log_token(secret, node)>` for the node that runs the requested pod (one of
`nodes`; looked up by the SHA-256 of the header, so no comparison depends on how much of a token is right).
A token of another node, or anything else, gets a fixed 401 that echoes nothing of the request; so does
every request to a server given no token.  A pod on none of its nodes is a 404 for any of its nodes' tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from berth.declarative.logtoken import node_log_token
from berth.web import server

FOLLOW_POLL = 0.2
"""Seconds between looks at a followed log (`kubectl logs -f`)."""
TEXT = "text/plain; charset=utf-8"


class LogSource(Protocol):
    """What the endpoint reads: the agents' logs and their containers' states (`AgentHost`)."""

    def logs(self, namespace: str, pod: str, container: str | None, tail: int | None,
             previous: bool) -> bytes | None: ...

    def container_done(self, namespace: str, pod: str, container: str | None) -> bool: ...

    def stopping(self) -> bool: ...

    def node_of(self, namespace: str, pod: str) -> str | None:
        """The node that runs the pod, or None when none of the source's nodes does."""


class LogServer:
    """The log endpoint of `source` on 127.0.0.1:`port`; `start()` serves it on a thread, `stop()` ends it."""

    def __init__(self, source: LogSource, *, token: str | None = None, nodes: Iterable[str] = ()) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        self._server = server(create_app(source, token, nodes), "127.0.0.1", self.port, log_config=None,
                              lifespan="off", timeout_graceful_shutdown=1)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="agent-logs", daemon=True)

    def start(self, wait: float = 10.0) -> "LogServer":
        self._thread.start()
        deadline = time.monotonic() + wait
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._sock.close()


def create_app(source: LogSource, token: str | None = None, nodes: Iterable[str] = ()) -> "BearerOnly":
    """The ASGI app: the two kubelet log paths (anything else is 404), behind the check of `nodes`' tokens."""

    async def container_logs(request: Request) -> Response:
        p, query = request.path_params, request.query_params
        namespace, pod, container = p["namespace"], p["pod"], p.get("container")
        runs = await run_in_threadpool(source.node_of, namespace, pod)
        if runs is not None and runs != request.scope[NODE]:
            return BearerOnly.UNAUTHORIZED  # another node's token: the same 401 as any wrong one
        tail = query.get("tailLines", "")
        previous = query.get("previous") == "true"
        data = await run_in_threadpool(source.logs, namespace, pod, container,
                                       int(tail) if tail.lstrip("-").isdigit() else None, previous)
        if data is None:
            return _text(404, f"pod {namespace}/{pod} is not on this node\n".encode())
        if query.get("follow") == "true" and not previous:
            return StreamingResponse(_follow(source, namespace, pod, container, data), media_type=TEXT)
        return _text(200, data)

    async def not_found(request: Request) -> Response:
        return _text(404, b"not found\n")

    return BearerOnly(Starlette(routes=[Route("/containerLogs/{namespace}/{pod}/{container}", container_logs),
                                        Route("/containerLogs/{namespace}/{pod}", container_logs),
                                        Route("/{rest:path}", not_found)]), token, nodes)


NODE = "berth.log_node"
"""Scope key: the node whose token the request carried."""


class BearerOnly:
    """ASGI wrapper: passes a request on only when its `Authorization` header is `Bearer <token>` for one of
    `nodes` (that node in `scope[NODE]`, for the route to match against the pod's); else 401."""

    UNAUTHORIZED = Response(b"Unauthorized\n", status_code=401, media_type=TEXT,
                            headers={"WWW-Authenticate": 'Bearer realm="berth-agent"'})

    def __init__(self, app, token: str | None, nodes: Iterable[str] = ()) -> None:
        self.app = app
        self._nodes = {_digest(f"Bearer {node_log_token(token, node)}".encode()): node
                       for node in nodes} if token else {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            node = self.node(scope)
            if node is None:
                return await self.UNAUTHORIZED(scope, receive, send)
            scope[NODE] = node
        await self.app(scope, receive, send)

    def node(self, scope: dict) -> str | None:
        """The node whose token the request's single Authorization header carries, or None."""
        sent = [value for name, value in scope["headers"] if name == b"authorization"]
        return self._nodes.get(_digest(sent[0])) if len(sent) == 1 else None


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


async def _follow(source: LogSource, namespace: str, pod: str, container: str | None,
                  first: bytes) -> AsyncIterator[bytes]:
    """The log's text so far, then what is appended, until the container stops or the host stops."""
    full = await run_in_threadpool(source.logs, namespace, pod, container, None, False)
    sent = len(full or b"")
    yield first
    while not source.stopping():
        await asyncio.sleep(FOLLOW_POLL)
        full = await run_in_threadpool(source.logs, namespace, pod, container, None, False)
        if full is None:
            return
        sent = 0 if len(full) < sent else sent
        if len(full) > sent:
            yield full[sent:]
            sent = len(full)
        if await run_in_threadpool(source.container_done, namespace, pod, container):
            return


def _text(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type=TEXT)
