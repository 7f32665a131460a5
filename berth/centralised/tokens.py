"""The centralised plane's credentials until Keystone comes: token files and who a token is.

A *token file* (JSON, mode 0600) lists the tokens a service accepts, each by the SHA-256
digest of the token with the identity it stands for:
`{"tokens": [{"sha256": HEX, "user": U, "project": P, "roles": [R, ...], "service": BOOL}]}`.
`TokenFile.load(path).identify(headers)` gives the caller's `Identity`, or None (answer 401):
the `X-Auth-Token` header's digest is compared with every entry by `hmac.compare_digest`.
Only an entry marked `service` (the services' own credential) may speak for someone else:
with it, `X-Roles`, `X-Project-Id` and `X-User-Id` headers replace its roles, project and
user, as keystonemiddleware's do behind a trusted proxy; any other token's claims are ignored.
`NoAuth2` is upstream Placement's `noauth2` strategy (token `user[:project]`, roles from
`X-Roles`, admin for user `admin`): an explicit, never default, option for upstream's gabbi
suite.  `generate(directory)` writes a plane's credentials (`Credentials`), each file created
0600; `read_token(path)` reads one back.  Used by every centralised service, its clients and
`berth.launch.centralised`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

HEADER = "x-auth-token"


@dataclass(frozen=True)
class Identity:
    """Who made a request: user, project ('' when system-scoped) and roles."""

    user: str
    project: str
    roles: tuple[str, ...]
    service: bool = False
    """The services' own credential: may claim roles, a project and a user in headers."""

    def speaking_for(self, headers: Mapping[str, str]) -> Identity:
        """This service identity with the roles, project and user its request's headers claim."""
        roles = self.roles
        if "x-roles" in headers:
            roles = tuple(r.strip() for r in headers["x-roles"].split(",") if r.strip())
        return Identity(headers.get("x-user-id") or self.user, headers.get("x-project-id") or self.project,
                        roles, service=True)


class Authenticator(Protocol):
    """Tells who sent a request from its headers (names lower-case); None means 401."""

    def identify(self, headers: Mapping[str, str]) -> Identity | None: ...


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("latin-1", "replace")).digest()


class TokenFile:
    """The tokens one service accepts (the default strategy of every centralised service)."""

    def __init__(self, entries: list[tuple[bytes, Identity]]) -> None:
        self.entries = tuple(entries)

    @classmethod
    def load(cls, path: str | Path) -> TokenFile:
        return cls.parse(Path(path).read_text())

    @classmethod
    def parse(cls, text: str) -> TokenFile:
        rows = json.loads(text)["tokens"]
        return cls([(bytes.fromhex(r["sha256"]), Identity(r["user"], r["project"], tuple(r["roles"]),
                                                          bool(r.get("service")))) for r in rows])

    @classmethod
    def of(cls, tokens: Mapping[str, Identity]) -> TokenFile:
        """A table from tokens in memory (tests, one process hosting several services)."""
        return cls([(digest(t), who) for t, who in tokens.items()])

    def identify(self, headers: Mapping[str, str]) -> Identity | None:
        token = headers.get(HEADER)
        if not token:
            return None
        given, found = digest(token), None
        for known, who in self.entries:  # every entry, so the time taken does not say which matched
            if hmac.compare_digest(known, given):
                found = who
        if found is None or not found.service:
            return found
        return found.speaking_for(headers)


class NoAuth2:
    """Upstream Placement's `noauth2`: any token is accepted as `user[:project]`.  Never a default."""

    def identify(self, headers: Mapping[str, str]) -> Identity | None:
        if HEADER not in headers:
            return None
        user, _sep, project = headers[HEADER].partition(":")
        if "x-roles" in headers:
            roles = tuple(r.strip() for r in headers["x-roles"].split(",") if r.strip())
        else:
            roles = ("admin",) if user == "admin" else ()
        if headers.get("openstack-system-scope"):
            return Identity(user, "", roles)
        return Identity(user, headers.get("x-project-id") or project or user, roles)


# ---- the credentials `berth up --plane centralised` generates ------------------------------
ROLES: dict[str, Identity] = {  # token file name -> the identity it stands for
    "service": Identity("berth-service", "service", ("service",), service=True),
    "conductor": Identity("berth-conductor", "service", ("service",)),
    "admin": Identity("admin", "admin", ("admin", "member", "reader")),
    "member": Identity("demo", "demo", ("member", "reader")),
}
TABLES: dict[str, tuple[str, ...]] = {  # token-table file -> the credentials it accepts
    "tokens.json": ("service", "admin", "member"),
    "agent-tokens.json": ("conductor",),
}


@dataclass(frozen=True)
class Credentials:
    """Where a plane's secrets live: `<dir>/<name>.token` and the token tables."""

    dir: Path

    def token(self, name: str) -> Path:
        return self.dir / f"{name}.token"

    @property
    def tokens(self) -> Path:
        """The table Placement, the compute API and the schedulers accept."""
        return self.dir / "tokens.json"

    @property
    def agent_tokens(self) -> Path:
        """The table the agents accept: the conductor's token only."""
        return self.dir / "agent-tokens.json"


def _write_secret(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the start (never chmod after writing)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def read_token(path: str | Path) -> str:
    return Path(path).read_text().strip()


def _table(creds: Credentials, names: tuple[str, ...]) -> str:
    rows = [{"sha256": digest(read_token(creds.token(n))).hex(), "user": ROLES[n].user,
             "project": ROLES[n].project, "roles": list(ROLES[n].roles), "service": ROLES[n].service}
            for n in names]
    return json.dumps({"tokens": rows}, indent=2) + "\n"


def generate(directory: str | Path) -> Credentials:
    """A plane's credentials in `directory` (made 0700): kept if present, else new random tokens."""
    creds = Credentials(Path(directory))
    creds.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    creds.dir.chmod(0o700)  # a directory made earlier, or under a umask, is private too
    for name in ROLES:
        if not creds.token(name).exists():
            _write_secret(creds.token(name), secrets.token_urlsafe(32) + "\n")
    for table, names in TABLES.items():
        if not (creds.dir / table).exists():
            _write_secret(creds.dir / table, _table(creds, names))
    return creds
