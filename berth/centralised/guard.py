"""Token checking and role rules for the centralised plane's own services (compute API,
scheduler, agents); Placement runs the same `tokens.Authenticator` inside its own pipeline.

`TokenCheck` is ASGI middleware: a request whose `X-Auth-Token` the service's authenticator
does not know gets 401 in the service's own error shape (`refuse(status, message)`), except
on `open_paths` (version documents, health); otherwise the caller's `Identity` rides in the
ASGI scope (`identity(scope)`).  `RULES` are the role checks routes name (`allows(rule, who)`):
`any` (authenticated), `member` (a project member, an admin or a service), `admin`, `service`
(a service or an admin).  Used by `compute.api`, `scheduler.app` and `agent.app`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from berth.centralised.tokens import Authenticator, Identity

UNAUTHENTICATED = "The request you have made requires authentication."
SCOPE_KEY = "berth.identity"

RULES: dict[str, Callable[[Identity], bool]] = {
    "any": lambda who: True,
    "member": lambda who: bool({"member", "admin", "service"} & set(who.roles)),
    "admin": lambda who: "admin" in who.roles,
    "service": lambda who: bool({"service", "admin"} & set(who.roles)),
}


def allows(rule: str, who: Identity) -> bool:
    return RULES[rule](who)


def identity(scope: Scope) -> Identity:
    """The authenticated caller of this request (set by `TokenCheck`)."""
    return scope[SCOPE_KEY]


class TokenCheck:
    """401 for requests without a token the authenticator knows; the identity for the rest."""

    def __init__(self, app: ASGIApp, tokens: Authenticator, refuse: Callable[[int, str], Response],
                 open_paths: frozenset[str] = frozenset()) -> None:
        self.app, self.tokens, self.refuse, self.open_paths = app, tokens, refuse, open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        who = self.tokens.identify(headers)
        if who is None:
            await self.refuse(401, UNAUTHENTICATED)(scope, receive, send)
            return
        scope[SCOPE_KEY] = who
        await self.app(scope, receive, send)
