"""`Connection`: one keep-alive HTTP/1.1 client connection, for the many small unary calls of `KubeClient`.

A request goes out as one `sendall` (request line, headers and body together, TCP_NODELAY), and the
response is parsed by httptools (the C parser uvicorn uses), which handles Content-Length and chunked
bodies alike.  This is the declarative plane's one hand-written HTTP path, kept because it pays:
`berth bench client` (5 interleaved rounds of 2,000 calls of each kind per client, one thread, against
the API server on loopback with its memory store, 2 cores, Python 3.11) gave, in medians of µs per call,
wall / CPU of the calling thread, this module vs one keep-alive `httpx.Client` behind the same encoding:
GET of a pod 61 / 22 vs 439 / 333, POST of a pod 141 / 33 vs 662 / 434, PATCH of its status 115 / 29
vs 587 / 401; over all three, 109 / 33 vs 565 / 391, httpx 5.2x the wall time and 11.8x the CPU.  An
earlier end-to-end comparison, taken with a code edit that sent `KubeClient`'s unary calls through
httpx (so no command reproduces it), gave 1,664 and 2,593 pods/s with this module against 635 and 480
in `berth bench declarative --nodes 500 --pods 6000 --no-backlog`.  Watches stream through httpx: a
watch over this module gained nothing (`berth bench client` at commit 20ec30b, which measured one: 31.0
µs wall / 4.2 µs CPU per event against httpx's 29.6 / 4.8).  A connection the server closed while idle raises `Stale` before any byte of the response
arrives, which the caller may retry; anything else is an `OSError` or `httptools.HttpParserError`.
Given an `ssl.SSLContext` (from `Credentials`), the socket is wrapped in TLS on connecting, verified for
`host`; a TLS connection the server ended (close_notify or EOF) counts as closed, as a plain one does.
Not thread-safe: `KubeClient` keeps one per thread.
"""

from __future__ import annotations

import socket
import ssl

import httptools


class Stale(ConnectionResetError):
    """The server had closed the idle keep-alive connection: nothing of the response was received."""


CLOSED = (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
"""How a closed connection shows, plain or in TLS."""


class Connection:
    """A lazily opened keep-alive connection to `host:port`."""

    __slots__ = ("host", "port", "timeout", "sock", "_host_header", "_body", "_done", "_started", "_parser",
                 "_keep", "tls")

    def __init__(self, host: str, port: int, timeout: float, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.timeout, self.tls = host, port, timeout, tls
        self.sock: socket.socket | None = None
        name = f"[{host}]" if ":" in host else host
        self._host_header = f"Host: {name}:{port}\r\n".encode()
        self._body: list[bytes] = []
        self._done = self._started = self._keep = False
        self._parser: httptools.HttpResponseParser | None = None

    def request(self, method: str, target: str, headers: bytes, body: bytes | None) -> tuple[int, bytes]:
        """Send one request; return (status code, body).  `headers` are complete `Name: value\\r\\n` lines."""
        fresh = self.sock is None
        if fresh:
            self._connect()
        length = b"Content-Length: %d\r\n\r\n" % len(body) if body is not None else b"\r\n"
        message = b"".join((f"{method} {target} HTTP/1.1\r\n".encode(), self._host_header, headers, length,
                            body or b""))
        try:
            self.sock.sendall(message)
        except CLOSED as err:
            self.close()
            raise (err if fresh else Stale(str(err))) from None
        return self._response(fresh)

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock

    def _response(self, fresh: bool) -> tuple[int, bytes]:
        parser = self._parser = httptools.HttpResponseParser(self)
        self._body, self._done, self._started, self._keep = [], False, False, False
        sock = self.sock
        try:
            while not self._done:
                data = sock.recv(1 << 16)
                if not data:
                    raise ConnectionResetError("the server closed the connection")
                self._started = True
                parser.feed_data(data)
        except CLOSED as err:
            self.close()
            if self._started or fresh:
                raise
            raise Stale(f"the server had closed the keep-alive connection: {err}") from None
        except BaseException:
            self.close()
            raise
        status = parser.get_status_code()
        if not self._keep:
            self.close()
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        return status, body

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._keep = self._parser.should_keep_alive()  # asked now: the parser forgets once the message ends

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._done = True

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()
