"""`Credentials`: whom a declarative client trusts (the API server's CA) and how it proves who it is.

A client certificate (paths, or PEM held in memory), a bearer token, or both; and the CA that signed the
server's certificate.  `from_kubeconfig(path)` reads the standard kubeconfig fields of the current
context's cluster and user: `server`, `certificate-authority(-data)`, `insecure-skip-tls-verify`,
`client-certificate(-data)`, `client-key(-data)`, `token` and `tokenFile` (paths relative to the
kubeconfig's directory, as kubectl reads them).  `ssl_context()` builds the `ssl.SSLContext` both of
`KubeClient`'s transports use (`wire.Connection` wraps its socket with it; httpx takes it as `verify`).
Secrets never appear in a repr or an error message.  Used by `KubeClient`, and so by the scheduler, the
controller manager and the node agents' host.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used: missing context, cluster or user, or an unreadable field."""


@dataclass(frozen=True)
class Credentials:
    """The trust anchor and the identity of a client; every field optional (none: plain, anonymous)."""

    server: str | None = None
    ca_file: str | None = None
    ca_data: bytes | None = field(default=None, repr=False)
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = field(default=None, repr=False)
    key_data: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    insecure_skip_verify: bool = False

    def __post_init__(self) -> None:
        if self.token is not None and (not self.token.isprintable() or not self.token.strip()):
            raise KubeconfigError("the bearer token is empty or holds a character no header may carry")

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike, context: str | None = None) -> "Credentials":
        """The credentials of `context` (default: the current context) of the kubeconfig at `path`."""
        path = Path(path)
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise KubeconfigError(f"{path}: not YAML ({type(err).__name__})") from None
        name = context or config.get("current-context")
        ctx = _named(config, "contexts", name, "context", path)
        cluster = _named(config, "clusters", ctx.get("cluster"), "cluster", path)
        user = _named(config, "users", ctx.get("user"), "user", path) if ctx.get("user") else {}
        return cls(server=cluster.get("server"), insecure_skip_verify=bool(cluster.get("insecure-skip-tls-verify")),
                   **_pem(cluster, "certificate-authority", "ca", path.parent),
                   **_pem(user, "client-certificate", "cert", path.parent),
                   **_pem(user, "client-key", "key", path.parent), token=_token(user, path.parent))

    def with_token(self, token: str | None) -> "Credentials":
        """The same trust and client certificate, with `token` as the bearer token."""
        return dataclasses.replace(self, token=token)

    @property
    def authorization(self) -> str | None:
        """The `Authorization` header's value, or None without a token."""
        return f"Bearer {self.token}" if self.token else None

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context: verifies the server against the CA (the system's when none is given) and
        presents the client certificate, if any.  Built once per `Credentials`."""
        return _context(self)


@functools.lru_cache(maxsize=64)
def _context(creds: Credentials) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=creds.ca_file,
                                     cadata=creds.ca_data.decode() if creds.ca_data else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if creds.insecure_skip_verify:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if creds.cert_file or creds.cert_data:
        _load_chain(ctx, creds)
    return ctx


def _load_chain(ctx: ssl.SSLContext, creds: Credentials) -> None:
    """Load the client certificate and key; PEM held in memory goes through 0600 files in a private temporary
    directory for the moment `ssl` reads them (it reads chains from files only)."""
    if creds.cert_file and not creds.cert_data and not creds.key_data:
        ctx.load_cert_chain(creds.cert_file, creds.key_file)
        return
    with tempfile.TemporaryDirectory(prefix="berth-cred-") as tmp:
        cert = _file(Path(tmp) / "tls.crt", creds.cert_data) if creds.cert_data else creds.cert_file
        key = _file(Path(tmp) / "tls.key", creds.key_data) if creds.key_data else creds.key_file
        ctx.load_cert_chain(cert, key)


def _file(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return str(path)


def _named(config: dict, section: str, name: str | None, key: str, path: Path) -> dict:
    """The `key` mapping of the entry called `name` in the kubeconfig's `section` list."""
    for entry in config.get(section) or []:
        if entry.get("name") == name:
            return entry.get(key) or {}
    raise KubeconfigError(f"{path}: no {section[:-1]} named {name!r}" if name else f"{path}: no current-context")


def _pem(section: dict, field_name: str, prefix: str, base: Path) -> dict:
    """`<prefix>_data` from `<field>-data` (base64), or `<prefix>_file` from `<field>` (relative to `base`)."""
    if section.get(f"{field_name}-data"):
        try:
            return {f"{prefix}_data": base64.b64decode(section[f"{field_name}-data"], validate=True)}
        except (ValueError, TypeError):
            raise KubeconfigError(f"{field_name}-data is not base64") from None
    if section.get(field_name):
        return {f"{prefix}_file": str(base / Path(section[field_name]).expanduser())}
    return {}


def _token(user: dict, base: Path) -> str | None:
    if user.get("token"):
        return str(user["token"])
    if user.get("tokenFile"):
        return (base / Path(user["tokenFile"]).expanduser()).read_text().strip()
    return None
