"""The connection guard: every connection of a server run by `berth.web.serve` passes through a `Guard`
before uvicorn's HTTP protocol sees it.

`GuardedProtocol` is given to uvicorn as its `http` protocol (a picklable factory, so `--workers N`
processes build their own).  For each connection it makes uvicorn's protocol (through the write cork of
`berth.web.cork` when coalescing) and wraps it, by composition, in a `Guard`, which:

- counts the connection in `Connections` (in all and per client; a full count evicts the oldest
  connection still waiting for a request head, see `berth.web.connections`);
- with TLS, does the handshake itself on the plain TCP connection with the loop's public `start_tls`,
  bounded by `Limits.handshake_timeout`, and files the verified client certificate for `berth.web.peer`.
  The handshake starts only once the client's first bytes (its ClientHello) arrive: a pending `start_tls`
  holds an SSL object, its buffers and a task (55 KiB a connection on uvloop, 260 KiB on asyncio), which
  thousands of silent half-open connections would otherwise hold; until then a timer of the same
  `handshake_timeout` closes a silent connection;
- runs a second, callback-light httptools parser over the bytes, only to see where heads and bodies end:
  a head over `max_header_bytes` gets 431 and close, a Content-Length over `max_body_bytes` gets 413 and
  close before the body is read, a chunked body that passes the cap is cut; the head timeout is the
  registry's.  Bytes after an Upgrade, or after a parse error (uvicorn answers those), pass untouched.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import httptools
from uvicorn.config import HTTP_PROTOCOLS
from uvicorn.importer import import_from_string

from berth.web import peer
from berth.web.connections import Connections
from berth.web.cork import CorkedProtocol
from berth.web.limits import Limits
from berth.web.tls import TLSFiles

CUT = 0
"""A verdict: close at once, no answer (a chunked body over the cap)."""


def refusal(code: int, reason: str, message: str) -> bytes:
    """A complete `Connection: close` response with a Kubernetes-style Status body (no client text in it)."""
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()
    phrase = {413: "Request Entity Too Large", 431: "Request Header Fields Too Large"}[code]
    return (f"HTTP/1.1 {code} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"connection: close\r\n\r\n").encode() + body


class Shared:
    """What the guards of one server in one process share: limits, the registry, the TLS context, answers."""

    __slots__ = ("limits", "connections", "ssl", "inner_class", "coalesce", "answers", "loop")

    def __init__(self, factory: GuardedProtocol, loop: asyncio.AbstractEventLoop) -> None:
        limits = self.limits = factory.limits
        self.loop = loop
        self.connections = Connections(limits, loop)
        self.ssl: ssl.SSLContext | None = factory.tls.context() if factory.tls else None
        self.inner_class = import_from_string(HTTP_PROTOCOLS.get(factory.http, factory.http))
        self.coalesce = factory.coalesce
        self.answers = {
            431: refusal(431, "RequestHeaderFieldsTooLarge",
                         f"request headers too large: limit is {limits.max_header_bytes} bytes"),
            413: refusal(413, "RequestEntityTooLarge",
                         f"request entity too large: limit is {limits.max_body_bytes} bytes"),
        }


class GuardedProtocol:
    """uvicorn's `http` protocol factory: each connection gets uvicorn's `http` protocol inside a `Guard`."""

    def __init__(self, limits: Limits, tls: TLSFiles | None = None, *, coalesce: bool = True,
                 http: str = "auto") -> None:
        self.limits, self.tls, self.coalesce, self.http = limits, tls, coalesce, http
        self._shared: Shared | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_shared": None}  # a worker process builds its own

    def __call__(self, **kwargs: Any) -> asyncio.Protocol:
        shared = self._shared
        if shared is None or shared.loop is not asyncio.get_running_loop():
            shared = self._shared = Shared(self, asyncio.get_running_loop())
        inner = shared.inner_class(**kwargs)
        return Guard(CorkedProtocol(inner) if shared.coalesce else inner, shared)


class Guard(asyncio.Protocol):
    """One connection: counted, TLS-terminated, its heads and bodies measured; uvicorn's protocol inside."""

    __slots__ = ("inner", "shared", "client", "raw", "parser", "opened", "in_head", "head_bytes",
                 "body_bytes", "verdict", "early", "hello", "key", "handshake", "silence", "app")

    def __init__(self, inner: asyncio.Protocol, shared: Shared) -> None:
        self.inner, self.shared = inner, shared
        self.client = ""
        self.raw: asyncio.Transport | None = None
        self.app: asyncio.Transport | None = None
        """The transport uvicorn's protocol writes to: `raw`, or the TLS transport over it."""
        self.parser: httptools.HttpRequestParser | None = None
        self.opened = False
        self.in_head, self.head_bytes, self.body_bytes = True, 0, 0
        self.verdict: int | None = None
        self.early: list[bytes] = []
        self.hello: list[bytes] = []
        self.key: peer.Key | None = None
        self.handshake: asyncio.Task | None = None
        self.silence: asyncio.TimerHandle | None = None
        """Before a TLS client's first byte: the timer that closes the connection if none comes."""

    # -- connection life --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]
        address = transport.get_extra_info("peername")
        self.client = str(address[0]) if address else ""
        if not self.shared.connections.admit(self):
            transport.abort()  # type: ignore[attr-defined]
        elif self.shared.ssl is None:
            self._open(transport)
        else:
            self.silence = self.shared.loop.call_later(self.shared.limits.handshake_timeout, self.evict)

    def _start_tls(self) -> None:
        """The client's first bytes came (kept in `hello`, reading paused): start the handshake."""
        self.silence.cancel()  # type: ignore[union-attr]
        self.silence = None
        loop = self.shared.loop
        self.handshake = loop.create_task(self._handshake())
        loop.call_soon(loop.call_soon, self._replay)

    async def _handshake(self) -> None:
        try:
            app = await self.shared.loop.start_tls(
                self.raw, self, self.shared.ssl, server_side=True,
                ssl_handshake_timeout=self.shared.limits.handshake_timeout)
        except Exception:  # noqa: BLE001 - a failed, timed-out or evicted handshake: drop the connection
            app = None
        if app is None or app.is_closing():
            self.shared.connections.release(self)
            self.raw.abort()
            return
        certificate = app.get_extra_info("peercert")
        if certificate:
            self.key = peer.addresses(self.raw)
            if self.key is not None:
                peer.remember(self.key, certificate)
        self._open(app)

    def _replay(self) -> None:
        """Give the TLS protocol the bytes that came before it took over the connection.

        The first bytes of a ClientHello reach this guard (`data_received` keeps them, pauses reading and
        calls `_start_tls`).  `start_tls` (the first step of the `_handshake` task, run in the same loop
        turn as the callback that scheduled this one) sets its
        protocol on the transport and schedules that protocol's `connection_made`, then the transport's
        `resume_reading`; this runs right after both in one turn, so no newer byte can come between."""
        hello, self.hello = self.hello, []
        protocol = self.raw.get_protocol()
        if not hello or protocol is self or self.raw.is_closing():
            return
        data = memoryview(b"".join(hello))
        while data:
            buffer = protocol.get_buffer(len(data))
            n = min(len(buffer), len(data))
            buffer[:n] = data[:n]
            protocol.buffer_updated(n)
            data = data[n:]

    def _open(self, transport: asyncio.BaseTransport) -> None:
        self.opened, self.app = True, transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.inner.connection_made(transport)
        early, self.early = self.early, []
        for data in early:
            self.data_received(data)

    def evict(self) -> None:
        """Drop the connection at once (it was waiting for a head: evicted for a newer one, or too slow)."""
        self.raw.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.shared.connections.release(self)
        if self.silence is not None:
            self.silence.cancel()
            self.silence = None
        if self.key is not None:
            peer.forget(self.key)
            self.key = None
        if self.opened:
            self.opened = False
            self.inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.opened else None

    def pause_writing(self) -> None:
        if self.opened:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.opened:
            self.inner.resume_writing()

    # -- bytes ------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if not self.opened:
            if self.raw.get_protocol() is self:  # raw bytes before the TLS protocol took over
                self.hello.append(data)
                self.raw.pause_reading()
                if self.handshake is None:
                    self._start_tls()
            else:
                self.early.append(data)  # decrypted before `start_tls` returned
            return
        parser = self.parser
        if parser is not None:
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                self.parser = None
            except httptools.HttpParserError:
                self.parser = None  # uvicorn's own parser finds it too, and answers 400
            if self.verdict is not None:
                return self._refuse()
            if self.in_head:
                self.head_bytes += len(data)
                if self.head_bytes > self.shared.limits.max_header_bytes:
                    self.verdict = 431
                    return self._refuse()
        self.inner.data_received(data)

    def _refuse(self) -> None:
        """Answer the verdict (431, 413) and close, or cut at once (CUT); never through the write cork."""
        self.parser = None
        self.shared.connections.release(self)
        answer = self.shared.answers.get(self.verdict)  # type: ignore[arg-type]
        if answer is None:
            self.raw.abort()
        else:
            self.app.write(answer)
            self.app.close()

    # -- httptools callbacks (only where a head or body ends, and Content-Length) -------------------------

    def on_message_begin(self) -> None:
        self.body_bytes = 0
        if not self.in_head:
            self.in_head, self.head_bytes = True, 0
            self.shared.connections.head_started(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) == 14 and name.lower() == b"content-length" and value.isdigit() \
                and int(value) > self.shared.limits.max_body_bytes:
            self.verdict = 413

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.shared.connections.head_done(self)

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > self.shared.limits.max_body_bytes:
            self.verdict = CUT
