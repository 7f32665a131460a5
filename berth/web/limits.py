"""`Limits`: what one connection, one request head and one body may take from a server, enforced below the
app by the connection guard (`berth.web.guard`) of every server `berth.web.serve` runs.

Each default says why it is what it is; upstream's value is used wherever upstream has one.  Tests and
callers pass smaller ones (`Limits(head_timeout=0.5)`); `Limits()` is the default of `serve`.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Caps on header bytes, head time, body bytes and open connections (see each field)."""

    max_header_bytes: int = 1 * MiB
    """Bytes of one request head (request line and headers) before 431 and close.  Go's net/http, which
    serves kube-apiserver, refuses heads over `DefaultMaxHeaderBytes`, 1 MiB; without a cap 250 MB of
    headers grew the API server by 1 GB."""

    head_timeout: float = 10.0
    """Seconds from a connection's start (or from the first byte of a kept-alive connection's next
    request) until its request head is complete; then the connection is closed.  Ends slowloris clients,
    which otherwise hold a connection for ever.  kube-apiserver has no such timeout (Go's
    `ReadHeaderTimeout` is unset there); 10 s is ample for any honest client on the machine or a LAN."""

    handshake_timeout: float = 10.0
    """Seconds a TLS handshake may take before the connection is closed, and as long again for a new
    connection's first byte (its ClientHello), which starts the handshake: Go's `tls.Conn` handshake on
    kube-apiserver is bounded by the same 10 s (`TLSHandshakeTimeout` of its transports)."""

    max_body_bytes: int = 3 * MiB
    """Bytes of one request body: a larger Content-Length gets 413 and close before any of it is read,
    and a chunked body is cut (closed) when its count passes this.  kube-apiserver caps a request body at
    3 MiB (`MaxRequestBodyBytes`, 3 * 1024 * 1024), the most etcd stores in one value with room to
    spare; Placement had no cap, and a 10 MB body took 17 s of CPU."""

    max_connections: int = 10_000
    """Open connections in all.  When full, a new connection evicts the oldest connection that has not yet
    sent a complete request head (half-open, slowloris or mid-handshake) and is refused only when none
    can be; well under the 20,000 file handles a default machine allows, which 20,200 half-open
    connections once exhausted.  `serve` lowers it further to fit the process's file limit."""

    max_connections_per_client: int = 5_000
    """Open connections from one client address: half the total, so one address cannot take every slot
    with completed requests (watches); its half-open connections are evicted first, as above."""

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "head_timeout", "handshake_timeout", "max_body_bytes",
                     "max_connections", "max_connections_per_client"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")
