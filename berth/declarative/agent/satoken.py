"""Projected ServiceAccount tokens, as the kubelet's: a token bound to the pod, in a file its processes read.

When a node agent starts a pod's containers, `TokenProjector.env(pod)` asks the API server for a token of
the pod's ServiceAccount bound to that pod (a TokenRequest on `serviceaccounts/<name>/token`), writes it to
`<root>/<namespace>_<pod>_<uid>/token` (directory 0700, file 0600, created with those modes and replaced
atomically) and answers the environment the containers get: `BERTH_SERVICE_ACCOUNT_TOKEN_FILE` (that path)
and `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`.  `refresh()` renews tokens past 80% of their
lifetime, as the kubelet does; `forget(pod)` removes the file when the pod goes.  A pod with
`automountServiceAccountToken: false` gets nothing.  A runtime whose containers have a filesystem of their own
(`MOUNTED`) sees the token as the kubelet's containers do: `in_container` mounts its directory read-only at
`MOUNT_PATH` and names the file there (the API server's address stays the host's 127.0.0.1).
Callers: `node.NodeAgent` (the hook), the agents' host (which builds the projector with
`token_requester(client)` over the node's own credential).

The TokenRequest is a blocking HTTP call, and the agent calls `env` and `refresh` under its host's lock.
Given `run` (the host's pool), requests run there instead: `env` answers None ("not yet") until the token
is written, then `wake(pod)` tells the host to sync the pod again.  Without `run` they are made inline.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from berth.declarative.client import ApiError
from berth.model.timestamps import parse_rfc3339
from berth.runtime import Mount

log = logging.getLogger(__name__)

TOKEN_FILE_ENV = "BERTH_SERVICE_ACCOUNT_TOKEN_FILE"
EXPIRATION_SECONDS = 3607  # the kubelet's projected-token lifetime
REFRESH_AT = 0.8  # of the lifetime, as the kubelet
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # where the kubelet's containers find `token`
MOUNTED = frozenset({"container"})
"""Runtimes whose containers see the token through a mount of its directory, not at its host path."""

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


def in_container(projected: dict[str, str]) -> tuple[dict[str, str], tuple[Mount, ...]]:
    """The projected environment as a container sees it, and the mount that shows it the token: the token's
    directory, read-only at `MOUNT_PATH` (a directory, so a renewed token replacing the file is seen)."""
    if TOKEN_FILE_ENV not in projected:
        return projected, ()
    token = Path(projected[TOKEN_FILE_ENV])
    return {**projected, TOKEN_FILE_ENV: f"{MOUNT_PATH}/{token.name}"}, (Mount(str(token.parent), MOUNT_PATH, True),)


def wants_token(pod: dict) -> bool:
    return (pod.get("spec") or {}).get("automountServiceAccountToken") is not False


class TokenProjector:
    """Tokens of the pods this agent runs, under `root`; `server` is the API server's (host, port).

    `run(job)` runs a job away from the caller's locks (inline when None); `wake(pod)` is called, with no
    lock of the projector held, once a pod's first request has ended (token written, or refused)."""

    def __init__(self, request: RequestToken, root: str | os.PathLike, server: tuple[str, int],
                 clock: Callable[[], float] = time.time, *, run: Callable[[Callable[[], None]], object] | None = None,
                 wake: Callable[[dict], None] = lambda pod: None) -> None:
        self.request, self.root, self.server, self.clock = request, Path(root), server, clock
        self.run, self.wake = run or (lambda job: job()), wake
        self.projected: dict[str, tuple[dict, float]] = {}  # pod uid -> (pod, when to renew)
        self.pending: set[str] = set()  # uids with a request under way
        self.refused: set[str] = set()  # uids whose first request failed: they start without a token
        self._lock = threading.Lock()

    def env(self, pod: dict) -> dict[str, str] | None:
        """The environment of the pod's containers: the token file and the API server's address ({} when the
        pod opts out or no token could be had, the failure logged without the token; None while the first
        request is under way)."""
        if not wants_token(pod):
            return {}
        uid = pod["metadata"].get("uid", "")
        with self._lock:
            asked = uid in self.projected or uid in self.pending or uid in self.refused
        if not asked:
            self._ask(pod)
        with self._lock:
            if uid in self.refused:
                return {}
            if uid not in self.projected:
                return None
        host, port = self.server
        return {TOKEN_FILE_ENV: str(self.path(pod)), "KUBERNETES_SERVICE_HOST": host,
                "KUBERNETES_SERVICE_PORT": str(port)}

    def refresh(self) -> None:
        now = self.clock()
        with self._lock:
            due = [pod for uid, (pod, renew_at) in self.projected.items() if now >= renew_at and uid not in self.pending]
        for pod in due:
            self._ask(pod)

    def forget(self, pod: dict) -> None:
        uid = pod["metadata"].get("uid", "")
        with self._lock:
            known = self.projected.pop(uid, None) is not None or uid in self.pending
            self.pending.discard(uid), self.refused.discard(uid)
            if known:
                shutil.rmtree(self.path(pod).parent, ignore_errors=True)

    def path(self, pod: dict) -> Path:
        meta = pod["metadata"]
        return self.root / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta.get('uid', '')}" / "token"

    def _ask(self, pod: dict) -> None:
        with self._lock:
            self.pending.add(pod["metadata"].get("uid", ""))
        self.run(lambda: self._project(pod))

    def _project(self, pod: dict) -> None:
        """Request the token and write it, unless the pod was forgotten meanwhile; then wake the pod."""
        meta, uid = pod["metadata"], pod["metadata"].get("uid", "")
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        with self._lock:
            first = uid not in self.projected
        try:
            token, expires = self.request(meta.get("namespace", "default"), account, meta["name"], uid)
            with self._lock:
                if uid in self.pending:
                    write_secret(self.path(pod), token)
                    now = self.clock()
                    self.projected[uid] = (pod, now + REFRESH_AT * max(expires - now, 0.0))
        except (ApiError, httpx.HTTPError, OSError, KeyError, TypeError) as err:  # refused, or I/O: no token
            log.warning("no service account token for pod %s/%s: %s", meta.get("namespace"), meta["name"],
                        type(err).__name__)
            with self._lock:
                if uid in self.pending and first:
                    self.refused.add(uid)
        finally:
            with self._lock:
                self.pending.discard(uid)
        if first:
            self.wake(pod)


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
