"""Shared HTTP serving for both planes: every server runs through `serve` (or `server`, not yet running).

Modules: serve (uvicorn set up the one way), guard (each connection: limits, TLS handshake, client
certificate), connections (counts, eviction, head timeout), limits (the `Limits` and why each default),
tls (`TLSFiles`), peer (`peer_certificate(scope)`), checks (`guarded`: Host allow-list, writes'
Content-Type), cork (a connection's writes in one loop turn go out as one send).  Callers: the API server,
Placement, the compute API, the centralised scheduler and agents, the declarative agents' log endpoint.
"""

from __future__ import annotations

from berth.web.checks import guarded
from berth.web.limits import Limits
from berth.web.peer import peer_certificate
from berth.web.serve import serve, server
from berth.web.tls import TLSFiles

__all__ = ["Limits", "TLSFiles", "guarded", "peer_certificate", "serve", "server"]
