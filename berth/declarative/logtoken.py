"""Each node's credential for the agents' log endpoints, derived from the one secret of `--kubelet-token-file`.

The API server sends `node_log_token(secret, node)` to the node that runs the pod whose log it proxies
(`apiserver.logs.AgentLogProxy`); the agents' log endpoint accepts a request only with the token derived for
the node that runs the requested pod (`agent.logserver`).  A node may advertise any address for its log
endpoint, so it can capture what the API server sends it: with these tokens that opens only its own pods' logs.
Shared by both sides so neither imports the other.
"""

from __future__ import annotations

import hashlib
import hmac


def node_log_token(secret: str, node: str) -> str:
    """HMAC-SHA256(secret, node name), as hex: what opens the logs of the pods on `node`, and no others."""
    return hmac.new(secret.encode(), node.encode(), hashlib.sha256).hexdigest()
