"""`LogServer`: the node agents' log endpoint, the kubelet's `/containerLogs/{ns}/{pod}[/{container}]`.

A small Starlette app served by uvicorn (through `berth.web.server`) on its own thread, on a loopback port
the kernel picks (bound at construction, so `port` is known before the Nodes that publish it in
`daemonEndpoints` are registered).
Query parameters: `tailLines`, `previous=true`, and `follow=true`, which streams the log as it grows until
the container stops, the host stops or the client goes away.  The API server's `pods/log` proxies here.
`AgentHost` owns one; `source` is anything with the host's `logs`, `container_done` and `stopping`.

Only the API server may ask: every request must carry `Authorization: Bearer <token>` with the `token`
the server was given (the API server's `--kubelet-token-file`), compared in constant time; anything else
gets a fixed 401 that echoes nothing of the request.  A server given no token refuses every request.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import threading
import time
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

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


class LogServer:
    """The log endpoint of `source` on 127.0.0.1:`port`; `start()` serves it on a thread, `stop()` ends it."""

    def __init__(self, source: LogSource, *, token: str | None = None) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        self._server = server(create_app(source, token), "127.0.0.1", self.port, log_config=None,
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


def create_app(source: LogSource, token: str | None = None) -> "BearerOnly":
    """The ASGI app: the two kubelet log paths (anything else is 404), behind the bearer `token` check."""

    async def container_logs(request: Request) -> Response:
        p, query = request.path_params, request.query_params
        namespace, pod, container = p["namespace"], p["pod"], p.get("container")
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
                                        Route("/{rest:path}", not_found)]), token)


class BearerOnly:
    """ASGI wrapper: passes a request on only when its `Authorization` header is `Bearer <token>`; else 401."""

    UNAUTHORIZED = Response(b"Unauthorized\n", status_code=401, media_type=TEXT,
                            headers={"WWW-Authenticate": 'Bearer realm="berth-agent"'})

    def __init__(self, app, token: str | None) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not self.allowed(scope):
            return await self.UNAUTHORIZED(scope, receive, send)
        await self.app(scope, receive, send)

    def allowed(self, scope: dict) -> bool:
        if self._expected is None:
            return False
        sent = [value for name, value in scope["headers"] if name == b"authorization"]
        return len(sent) == 1 and hmac.compare_digest(sent[0], self._expected)


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
