"""The hostile clients of `berth bench abuse`, each kind run by `attack` in a child process of its own.

A child raises its open-file limit to the hard one, says it is ready, and runs one asyncio loop of `count`
clients of one kind against a loopback server for a given time, then puts its `Tally` on a queue:

- `half_open`: connect, send part of a request head and hold the connection; over TLS, either do the
  handshake first (`handshake=True`) or send nothing at all (a client stalled before its ClientHello);
  the server ending the connection is an eviction;
- `slowloris`: send a request line, then one header byte every `drip` seconds, for as long as the server
  keeps the connection;
- `big_body`: in a loop, POST a `body_bytes` JSON body (Content-Length announced), then read the answer;
  the answer's status (or the server closing first) is counted.

Loopback only: `attack` refuses any other host.  Called by `berth.sim.abuse`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
import socket
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field

CONNECT_TIMEOUT = 5.0
OPENING = 256
"""Connections one child has in its connect phase at once (its share of the kernel's accept backlog)."""


@dataclass
class Tally:
    """What one child's clients saw."""

    kind: str
    opened: int = 0
    refused: int = 0
    """TCP connects that failed or timed out."""
    cut: int = 0
    """TLS handshakes that failed or timed out after the TCP connect: the server evicting a connection
    still in its handshake (oldest first, when its connection counts are full) ends up here."""
    evicted: int = 0
    """Connections the server ended while the client still held them."""
    answers: Counter = field(default_factory=Counter)
    """big_body: answers by status code ('closed' when the server closed without one)."""
    peak_open: int = 0
    open_now: int = 0

    def add_open(self, n: int) -> None:
        self.open_now += n
        self.peak_open = max(self.peak_open, self.open_now)


def is_loopback(host: str) -> bool:
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback
                   for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP))
    except (OSError, ValueError):
        return False


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass(frozen=True)
class Aim:
    """Where and how the clients connect; `tls` is a client context (verification off: these clients only
    need the connection) or None for plain HTTP."""

    host: str
    port: int
    tls: bool
    path: str
    handshake: bool = False
    drip: float = 3.0
    body_bytes: int = 10_000_000

    def context(self, handshake: bool = True) -> ssl.SSLContext | None:
        if not (self.tls and handshake):
            return None
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx

    def head(self, method: str = "GET", extra: str = "") -> bytes:
        return f"{method} {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}".encode()


async def _connect(aim: Aim, tally: Tally, gate: asyncio.Semaphore, handshake: bool = True):
    """A TCP connection (a failure counts as refused), then its TLS handshake if any (a failure: cut)."""
    async with gate:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        try:
            streams = await asyncio.wait_for(asyncio.open_connection(aim.host, aim.port), CONNECT_TIMEOUT)
        except (asyncio.TimeoutError, OSError):
            tally.refused += 1
            return None
        context = aim.context(handshake)
        if context is not None:
            try:
                await asyncio.wait_for(streams[1].start_tls(context), max(0.01, deadline - time.monotonic()))
            except (asyncio.TimeoutError, OSError, ssl.SSLError):
                tally.cut += 1
                streams[1].transport.abort()
                return None
    tally.opened += 1
    tally.add_open(1)
    return streams


async def _hold(reader, writer, tally: Tally, until: float) -> None:
    """Wait for the server to end the connection (an eviction) or for the deadline."""
    try:
        await asyncio.wait_for(reader.read(65536), max(0.0, until - time.time()))
        tally.evicted += 1  # an answer (408, 431) or the end of the connection, before the deadline
    except asyncio.TimeoutError:  # before OSError: it is one since Python 3.11
        pass
    except (OSError, ssl.SSLError):
        tally.evicted += 1  # reset by the server
    finally:
        tally.add_open(-1)
        writer.transport.abort()


async def half_open(aim: Aim, tally: Tally, gate, until: float) -> None:
    streams = await _connect(aim, tally, gate, aim.handshake)
    if streams:
        if not aim.tls or aim.handshake:  # over TLS without a handshake: silent, as a stalled ClientHello
            streams[1].write(aim.head(extra="User-Agent: half-"))
        await _hold(*streams, tally, until)


async def slowloris(aim: Aim, tally: Tally, gate, until: float) -> None:
    streams = await _connect(aim, tally, gate)
    if not streams:
        return
    reader, writer = streams
    writer.write(aim.head() + b"X-Drip: ")
    closed = asyncio.ensure_future(reader.read(65536))
    try:
        while time.time() < until and not closed.done():
            writer.write(b"a")
            await asyncio.wait({closed}, timeout=min(aim.drip, max(0.0, until - time.time())))
        if closed.done():
            tally.evicted += 1
    except OSError:
        tally.evicted += 1
    finally:
        closed.cancel()
        tally.add_open(-1)
        writer.transport.abort()


def _json_body(size: int) -> bytes:
    return b'{"name": "' + b"x" * max(0, size - 12) + b'"}'


async def big_body(aim: Aim, tally: Tally, gate, until: float) -> None:
    body = _json_body(aim.body_bytes)
    head = aim.head("POST", f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    while time.time() < until:
        streams = await _connect(aim, tally, gate)
        if not streams:
            await asyncio.sleep(0.1)
            continue
        reader, writer = streams
        try:
            writer.write(head)
            for start in range(0, len(body), 1 << 16):
                writer.write(body[start:start + (1 << 16)])
                await asyncio.wait_for(writer.drain(), max(0.01, until - time.time()))
            line = await asyncio.wait_for(reader.readline(), max(0.01, until - time.time()))
            tally.answers[line.split(b" ")[1].decode() if line.count(b" ") >= 2 else "closed"] += 1
        except (OSError, asyncio.TimeoutError, ssl.SSLError):
            tally.answers["closed"] += 1
        finally:
            tally.add_open(-1)
            writer.transport.abort()


KINDS = {"half_open": half_open, "slowloris": slowloris, "big_body": big_body}


async def _run(kind: str, count: int, aim: Aim, until: float) -> Tally:
    tally, gate = Tally(kind), asyncio.Semaphore(OPENING)
    await asyncio.gather(*(KINDS[kind](aim, tally, gate, until) for _ in range(count)))
    return tally


def attack(kind: str, count: int, aim: Aim, seconds: float, out) -> None:
    """Child-process entry: puts "ready" on queue `out` once started, then runs `count` clients of `kind` for
    `seconds` and puts its Tally."""
    if not is_loopback(aim.host):
        raise ValueError(f"{aim.host} is not a loopback address")
    raise_nofile()
    out.put("ready")
    out.put(asyncio.run(_run(kind, count, aim, time.time() + seconds)))
