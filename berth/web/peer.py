"""`peer_certificate(scope)`: the verified client certificate of the connection that carried an ASGI request.

uvicorn does not put the TLS peer in the ASGI scope, so the connection guard (`berth.web.guard`), which
does the handshake itself, files each verified certificate here when its connection opens, under the
connection's two addresses exactly as uvicorn writes them into `scope["client"]` and `scope["server"]`,
and takes it out when the connection is lost.  Read by the API server's authentication; any app served
by `berth.web.serve` may call it.
"""

from __future__ import annotations

import asyncio
from typing import Any

Address = tuple[str, int]
Key = tuple[Address, Address]

_CERTIFICATES: dict[Key, dict[str, Any]] = {}


def peer_certificate(scope: dict[str, Any]) -> dict[str, Any] | None:
    """The client certificate (as `ssl.SSLObject.getpeercert()` gives it) that the connection carrying
    this request presented and that verified against the server's client CA; None when there was none."""
    client, server = scope.get("client"), scope.get("server")
    if not client or not server:
        return None
    return _CERTIFICATES.get(((client[0], client[1]), (server[0], server[1])))


def addresses(transport: asyncio.BaseTransport) -> Key | None:
    """The connection's (client, server) addresses as uvicorn puts them in the scope; None if unknown."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return None
    try:
        peer, local = sock.getpeername(), sock.getsockname()
    except OSError:
        return None
    if not isinstance(peer, tuple) or not isinstance(local, tuple):
        return None
    return (str(peer[0]), int(peer[1])), (str(local[0]), int(local[1]))


def remember(key: Key, certificate: dict[str, Any]) -> None:
    """File `certificate` for the connection `key` (the guard, when a handshake with one completes)."""
    _CERTIFICATES[key] = certificate


def forget(key: Key) -> None:
    """Drop the connection `key`'s certificate (the guard, at connection loss)."""
    _CERTIFICATES.pop(key, None)
