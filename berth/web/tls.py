"""`TLSFiles`: the certificate, key and optional client CA a server serves HTTPS with, and the server-side
`ssl.SSLContext` built from them.

With `client_ca`, clients are asked for a certificate and one presented must verify against that CA
(`CERT_OPTIONAL`): a client without one still connects, and the app decides (the API server answers 401
unless a token authenticates it).  Used by `berth.web.serve`; the handshake itself is done by the
connection guard (`berth.web.guard`), so that it has a timeout and counts against the connection limits.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TLSFiles:
    """PEM paths: the serving certificate (chain), its private key, and the CA that signs client certificates."""

    cert: str | Path
    key: str | Path
    client_ca: str | Path | None = None

    def context(self) -> ssl.SSLContext:
        """A server context: TLS 1.2 or later, HTTP/1.1 by ALPN, client certificates optional but verified."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert), str(self.key))
        context.set_alpn_protocols(["http/1.1"])
        if self.client_ca is not None:
            context.load_verify_locations(cafile=str(self.client_ca))
            context.verify_mode = ssl.CERT_OPTIONAL
        return context
