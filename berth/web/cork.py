"""Write coalescing for uvicorn's HTTP protocol: every write to a connection within one event-loop turn
goes out as one send.

uvicorn writes a response's status line and headers, then its body, as two `transport.write` calls;
with TCP_NODELAY each is a system call and a loopback segment of its own, and the client wakes for
each.  `CorkedTransport` wraps a connection's transport: writes are buffered and sent together by
one callback scheduled on the loop (`call_soon`), a fraction of a millisecond later but in one
piece; `close()` sends what is buffered first; everything else is the wrapped transport's.
`corked(protocol_class)` wraps the protocol class uvicorn chose (`Config.http_protocol_class`, its
public attribute) by composition, so that each connection's protocol writes through a
`CorkedTransport`; nothing of uvicorn is subclassed or imported by private path.  Used by
`berth.web.serve` for every server, inside the connection guard (`coalesce=False`, the API server's
`--no-coalesce`, leaves uvicorn's protocol as it is).

It stays because it pays in latency: `berth bench declarative --json` against `berth bench declarative
--no-coalesce --json` (5,000 fake nodes, 10,000 pods after 1,000, SQLite store; six interleaved runs
each on a 2-core machine, medians; two such sets) gave a create-to-bound p50 of 17.6 and 18.7 ms with
coalescing against 21.1 and 21.7 ms without, and p99 96.9 and 93.1 against 104.6 and 99.4 ms.
Throughput did not move beyond the runs' spread (3,274 and 3,184 against 3,236 and 3,343 pods/s), nor
did CPU per pod (API server 0.254-0.258 ms either way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


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


class CorkedProtocol(asyncio.Protocol):
    """A connection's protocol (`inner`, uvicorn's) given a `CorkedTransport`; every callback passes through."""

    __slots__ = ("inner",)

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(CorkedTransport(transport, asyncio.get_running_loop()))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def corked(protocol_class: Callable[..., asyncio.Protocol]) -> Callable[..., asyncio.Protocol]:
    """A protocol factory making `protocol_class`'s connections write through a `CorkedTransport`."""
    return lambda *args, **kwargs: CorkedProtocol(protocol_class(*args, **kwargs))
