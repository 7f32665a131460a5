"""Test credentials for the centralised plane: one random token per role, and their tables.

`TOKENS` is what Placement, the compute API and the schedulers accept (service, admin, member);
`AGENT_TOKENS` what agents accept (the conductor's token only), `CONSOLE_TOKENS` what they also accept
for console reads (the service token).  `write_tokens(dir)` writes
the same tables as files (0600) for services started as processes; `headers(token)` is a
request's `X-Auth-Token` header.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from berth.centralised.agent.app import CONSOLE_READER
from berth.centralised.tokens import ROLES, TokenFile, digest

SERVICE, CONDUCTOR, ADMIN, MEMBER = (secrets.token_urlsafe(24) for _ in range(4))
BY_ROLE = {"service": SERVICE, "conductor": CONDUCTOR, "admin": ADMIN, "member": MEMBER}
TOKENS = TokenFile.of({SERVICE: ROLES["service"], ADMIN: ROLES["admin"], MEMBER: ROLES["member"]})
AGENT_TOKENS = TokenFile.of({CONDUCTOR: ROLES["conductor"]})
CONSOLE_TOKENS = TokenFile.of({SERVICE: CONSOLE_READER})


def headers(token: str) -> dict[str, str]:
    return {"x-auth-token": token}


def write_tokens(directory: Path, roles: tuple[str, ...] = ("service", "admin", "member")) -> Path:
    """A token table file accepting `roles`' tokens; returns its path."""
    rows = [{"sha256": digest(BY_ROLE[r]).hex(), "user": ROLES[r].user, "project": ROLES[r].project,
             "roles": list(ROLES[r].roles), "service": ROLES[r].service} for r in roles]
    path = Path(directory) / f"tokens-{'-'.join(roles)}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"tokens": rows}, out)
    return path
