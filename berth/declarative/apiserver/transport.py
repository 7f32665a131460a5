"""Write coalescing for uvicorn: every write to a connection within one event-loop turn goes out as one send.

uvicorn writes a response's status line and headers, then its body, as two `transport.write` calls; with
TCP_NODELAY each is a system call and a loopback segment of its own, and the client wakes once for each.
A watch stream does the same per chunk, and requests pipelined on one connection per response.
`CorkedTransport` wraps the connection's transport: writes are buffered and sent together by one callback
scheduled on the loop (`call_soon`), so they reach the kernel a fraction of a millisecond later but in one
piece.  `close()` sends what is buffered first.  Everything else is the wrapped transport's.
`CorkedHttpToolsProtocol` is uvicorn's httptools protocol on such a transport; `serve()` runs uvicorn with it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CorkedTransport:
    """An asyncio transport whose writes within one loop turn are joined into one."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._send)
        self._pending.append(data)

    def _send(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._send()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol, writing through a `CorkedTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
