"""The connection guard's limits over a real loopback socket: header bytes (431), head time (slowloris),
body bytes (413 by Content-Length, a chunked body cut), open connections (half-open ones evicted, a
long-running request never), and unfinished TLS handshakes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time

import httpx
import pytest

from berth.web import Limits, TLSFiles
from tests.web.helpers import make_pki, running
from tests.web.test_serve import app

HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def streaming(scope, receive, send):
    """`/stream` sends a line every 50 ms for 3 s (a watch); anything else is the echo app."""
    if scope["type"] == "http" and scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(60):
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b""})
        return
    await app(scope, receive, send)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (reading all it sent), or None if still open after `seconds`."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except (TimeoutError, socket.timeout):
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_head_over_the_cap_gets_431_and_close():
    with running(app) as port, connect(port) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(HEAD + b"X-Big: " + b"a" * (2 << 20) + b"\r\n\r\n")
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert b"connection: close" in answer


def test_a_head_under_the_cap_is_served():
    with running(app) as port:
        assert httpx.get(f"http://127.0.0.1:{port}/", headers={"x-big": "a" * 500_000}).status_code == 200


def test_a_slowloris_head_is_closed_after_the_head_timeout():
    with running(app, limits=Limits(head_timeout=0.5)) as port, connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        start = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(30):  # one header byte every 0.1 s, never the end of the head
                sock.sendall(b"X")
                time.sleep(0.1)
        assert closed_within(sock, 0.1) is not None
        assert time.monotonic() - start < 2.0


def test_an_idle_new_connection_is_closed_after_the_head_timeout_but_a_kept_alive_one_serves_again():
    with running(app, limits=Limits(head_timeout=0.5)) as port:
        with connect(port) as idle:
            assert closed_within(idle, 3.0) is not None
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(3):
                assert client.get("/").status_code == 200
                time.sleep(0.3)  # kept alive between requests: only heads are timed


def test_a_content_length_over_the_cap_gets_413_before_the_body_is_read():
    with running(app) as port, connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (10 << 20))
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:80]
    assert b"limit is 3145728 bytes" in answer


def test_a_chunked_body_over_the_cap_is_cut():
    with running(app, limits=Limits(max_body_bytes=64 << 10)) as port, connect(port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (16 << 10, b"a" * (16 << 10))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(8):
                sock.sendall(chunk)
            sock.sendall(b"0\r\n\r\n")
        answer = read_answer(sock)
    assert b" 200 " not in answer


def test_a_chunked_body_under_the_cap_is_served():
    with running(app, limits=Limits(max_body_bytes=64 << 10)) as port:
        body = iter([b"a" * 1000] * 60)
        answer = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers={"content-type": "application/json"})
    assert answer.json()["bytes"] == 60_000


def test_half_open_connections_give_way_to_a_normal_client_and_never_evict_a_watch():
    limits = Limits(max_connections=50, max_connections_per_client=50, head_timeout=30)
    with running(streaming, limits=limits) as port, httpx.Client(timeout=5) as watcher:
        with watcher.stream("GET", f"http://127.0.0.1:{port}/stream") as watch:
            lines = watch.iter_lines()
            assert next(lines) == "tick"
            half_open = [connect(port) for _ in range(200)]
            for _ in range(5):
                started = time.monotonic()
                assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
                assert time.monotonic() - started < 1.0
            assert sum(1 for _ in lines) > 10, "the watch streamed to its end"
            for sock in half_open:
                sock.close()


def test_a_new_connection_is_refused_only_when_nothing_can_be_evicted():
    limits = Limits(max_connections=3, max_connections_per_client=3, head_timeout=30)
    with running(streaming, limits=limits) as port, contextlib.ExitStack() as stack:
        watches = [stack.enter_context(httpx.stream("GET", f"http://127.0.0.1:{port}/stream", timeout=5))
                   for _ in range(3)]
        lines = [watch.iter_lines() for watch in watches]  # kept: a dropped iterator closes its stream
        assert [next(line) for line in lines] == ["tick"] * 3
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_unfinished_tls_handshakes_are_closed_after_the_handshake_timeout(pki, loop):
    tls = TLSFiles(pki["cert"], pki["key"], client_ca=pki["ca"])
    with running(app, tls=tls, loop=loop, limits=Limits(handshake_timeout=0.5, head_timeout=30)) as port:
        silent, partial = connect(port), connect(port)
        partial.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, never finished
        assert (closed_within(silent, 3.0) or 99) < 2.0
        assert (closed_within(partial, 3.0) or 99) < 2.0


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_unfinished_tls_handshakes_count_and_give_way_to_a_normal_client(pki, loop):
    tls = TLSFiles(pki["cert"], pki["key"], client_ca=pki["ca"])
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    limits = Limits(max_connections=20, max_connections_per_client=20)
    with running(app, tls=tls, loop=loop, limits=limits) as port:
        half_open = [connect(port) for _ in range(100)]
        for _ in range(3):
            assert httpx.get(f"https://127.0.0.1:{port}/", verify=context, timeout=5).status_code == 200
        alive = sum(closed_within(sock, 0.01) is None for sock in half_open)
        assert alive <= 20
        for sock in half_open:
            sock.close()


class CountedTLS(TLSFiles):
    """TLS files whose server context counts the SSL objects made from it (one per handshake begun)."""

    made: list[int] = []

    def context(self) -> ssl.SSLContext:
        context = super().context()
        wrap_bio = context.wrap_bio

        def counted(*args, **kwargs):
            CountedTLS.made.append(1)
            return wrap_bio(*args, **kwargs)

        context.wrap_bio = counted
        return context


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_silent_connection_holds_no_tls_state_until_its_first_byte(pki, loop):
    """A pending handshake holds an SSL object and its buffers (55 KiB a connection on uvloop): thousands
    of half-open connections that never send a ClientHello took 400 MiB.  Only the first bytes start it."""
    CountedTLS.made.clear()
    tls = CountedTLS(pki["cert"], pki["key"], client_ca=pki["ca"])
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    with running(app, tls=tls, loop=loop, limits=Limits(head_timeout=30)) as port:
        silent = [connect(port) for _ in range(50)]
        time.sleep(0.3)
        assert CountedTLS.made == []
        assert httpx.get(f"https://127.0.0.1:{port}/", verify=context, timeout=5).status_code == 200
        assert len(CountedTLS.made) == 1
        for sock in silent:
            sock.close()
