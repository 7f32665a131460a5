"""Projected ServiceAccount tokens, as the kubelet's: a token bound to the pod, in a file its processes read.

When a node agent starts a pod's containers, `TokenProjector.env(pod)` asks the API server for a token of
the pod's ServiceAccount bound to that pod (a TokenRequest on `serviceaccounts/<name>/token`), writes it to
`<root>/<namespace>_<pod>_<uid>/token` (directory 0700, file 0600, created with those modes and replaced
atomically) and answers the environment the containers get: `BERTH_SERVICE_ACCOUNT_TOKEN_FILE` (that path)
and `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`.  `refresh()` renews tokens past 80% of their
lifetime, as the kubelet does; `forget(pod)` removes the file when the pod goes.  A pod with
`automountServiceAccountToken: false` gets nothing.  Callers: `node.NodeAgent` (the hook), the agents'
host (which builds the projector with `token_requester(client)` over the node's own credential).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from berth.declarative.client import ApiError
from berth.model.timestamps import parse_rfc3339

log = logging.getLogger(__name__)

TOKEN_FILE_ENV = "BERTH_SERVICE_ACCOUNT_TOKEN_FILE"
EXPIRATION_SECONDS = 3607  # the kubelet's projected-token lifetime
REFRESH_AT = 0.8  # of the lifetime, as the kubelet

RequestToken = Callable[[str, str, str, str], "tuple[str, float]"]
"""(namespace, ServiceAccount, pod name, pod uid) -> (token, expiry as a Unix time); raises on failure."""


def token_requester(client) -> RequestToken:
    """Ask for bound tokens with a `KubeClient` (the node's credential: NodeRestriction lets a node ask only
    for tokens bound to pods on it)."""
    def request(namespace: str, account: str, pod: str, uid: str) -> tuple[str, float]:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"expirationSeconds": EXPIRATION_SECONDS,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod, "uid": uid}}}
        out = client.request("POST", client.path("serviceaccounts", namespace, account, "token"), body)
        return out["status"]["token"], parse_rfc3339(out["status"]["expirationTimestamp"]) or 0.0
    return request


def wants_token(pod: dict) -> bool:
    return (pod.get("spec") or {}).get("automountServiceAccountToken") is not False


class TokenProjector:
    """Tokens of the pods this agent runs, under `root`; `server` is the API server's (host, port)."""

    def __init__(self, request: RequestToken, root: str | os.PathLike, server: tuple[str, int],
                 clock: Callable[[], float] = time.time) -> None:
        self.request, self.root, self.server, self.clock = request, Path(root), server, clock
        self.projected: dict[str, tuple[dict, float]] = {}  # pod uid -> (pod, when to renew)

    def env(self, pod: dict) -> dict[str, str]:
        """The environment of the pod's containers: the token file and the API server's address ({} when the
        pod opts out or no token could be had; the failure is logged without the token)."""
        if not wants_token(pod) or not self._project(pod):
            return {}
        host, port = self.server
        return {TOKEN_FILE_ENV: str(self.path(pod)), "KUBERNETES_SERVICE_HOST": host,
                "KUBERNETES_SERVICE_PORT": str(port)}

    def refresh(self) -> None:
        now = self.clock()
        for uid, (pod, renew_at) in list(self.projected.items()):
            if now >= renew_at:
                self._project(pod)

    def forget(self, pod: dict) -> None:
        if self.projected.pop(pod["metadata"].get("uid", ""), None) is not None:
            shutil.rmtree(self.path(pod).parent, ignore_errors=True)

    def path(self, pod: dict) -> Path:
        meta = pod["metadata"]
        return self.root / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta.get('uid', '')}" / "token"

    def _project(self, pod: dict) -> bool:
        meta = pod["metadata"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        try:
            token, expires = self.request(meta.get("namespace", "default"), account, meta["name"], meta.get("uid", ""))
            write_secret(self.path(pod), token)
        except (ApiError, httpx.HTTPError, OSError, KeyError, TypeError) as err:  # refused, or I/O: no token
            log.warning("no service account token for pod %s/%s: %s", meta.get("namespace"), meta["name"],
                        type(err).__name__)
            return False
        now = self.clock()
        self.projected[meta.get("uid", "")] = (pod, now + REFRESH_AT * max(expires - now, 0.0))
        return True


def write_secret(path: Path, text: str) -> None:
    """Write `text` to `path` as a 0600 file (its directory 0700), replacing any older one atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
