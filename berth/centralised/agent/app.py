"""The compute agent's HTTP API, called by the conductor (Nova's compute RPC, over HTTP).

`POST /servers` spawns (202, or 409 with the runtime's message if the command cannot start;
`vcpus` and `ram` are the flavor's, which size a guest; 422 naming the field for a bad body),
`DELETE /servers/{id}` stops and forgets, `GET /servers` lists the runtime's units,
`GET /servers/{id}/console?length=N` is a server's console log (the last N lines), `GET /healthz` answers while the agent lives.  Built by
`create_app(agent, tokens=..., console_tokens=...)` as a Starlette app; handlers run in its thread pool
(spawning waits on the runtime).  Every call but `/healthz` needs a token `tokens` knows -- the
conductor's alone -- or gets 401; `GET /servers/{id}/console` alone also takes a token of
`console_tokens` (the service token, which the compute API holds to answer Nova's
`os-getConsoleOutput`): everywhere else that token is unknown (401).  A server id the runtime cannot
name a unit by is a 422.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.middleware import Middleware
from starlette.routing import Route

from berth.centralised import bodies, guard
from berth.centralised.agent.service import ComputeAgent
from berth.centralised.tokens import Authenticator, Identity
from berth.runtime import UnitState, UnitStatus

SPAWN = {"type": "object", "required": ["id"], "properties": {
    "id": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9_.-]+\Z"},
    "name": {"type": "string", "maxLength": 255},
    "command": {"type": "array", "maxItems": 64,
                "items": {"type": "string", "maxLength": 4096, "pattern": "^[^\\x00]*\\Z"}},
    "vcpus": {"type": "integer", "minimum": 1, "maximum": 1024},
    "ram": {"type": "integer", "minimum": 1, "maximum": 2**30, "description": "MiB"}}}


OPEN_PATHS = frozenset({"/healthz"})
CONSOLE_PATH = re.compile(r"/servers/[^/]+/console")
CONSOLE_READER = Identity("berth-service", "service", ("console-reader",))
"""Who the service token stands for at an agent: a reader of console logs, nothing more (never speaking for
anyone, so `X-Roles` and the like are ignored)."""


class Either:
    """An authenticator trying `first`, then `second` (both always asked, so timing says nothing)."""

    def __init__(self, first: Authenticator, second: Authenticator) -> None:
        self.first, self.second = first, second

    def identify(self, headers: Mapping[str, str]) -> Identity | None:
        found, also = self.first.identify(headers), self.second.identify(headers)
        return found or also


class ConsoleOrConductor:
    """ASGI middleware: `GET /servers/{id}/console` authenticates against both tables, every other call
    against the conductor's alone."""

    def __init__(self, app, tokens: Authenticator, console_tokens: Authenticator | None) -> None:
        self.strict = guard.TokenCheck(app, tokens=tokens, refuse=refuse, open_paths=OPEN_PATHS)
        wide = Either(tokens, console_tokens) if console_tokens is not None else tokens
        self.console = guard.TokenCheck(app, tokens=wide, refuse=refuse, open_paths=OPEN_PATHS)

    async def __call__(self, scope, receive, send) -> None:
        reading = scope["type"] == "http" and scope["method"] == "GET" and CONSOLE_PATH.fullmatch(scope["path"])
        await (self.console if reading else self.strict)(scope, receive, send)


def view(status: UnitStatus) -> dict:
    return {"id": status.name, "state": status.state.value, "restarts": status.restarts,
            "exit_code": status.exit_code, "pid": status.pid, "message": status.message}


def refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def create_app(agent: ComputeAgent, *, tokens: Authenticator,
               console_tokens: Authenticator | None = None) -> Starlette:
    async def spawn(request: Request) -> Response:
        body = bodies.parse(await request.body(), SPAWN)
        if isinstance(body, bodies.Problem):
            return JSONResponse({"detail": str(body)}, 422)
        status = await run_in_threadpool(agent.spawn, body["id"], body.get("command", []), body.get("vcpus"),
                                         body.get("ram"))
        if status.state is UnitState.FAILED:
            return JSONResponse({"error": status.message or "could not start"}, 409)
        return JSONResponse({"server": view(status)}, 202)

    def delete(request: Request) -> Response:
        return Response(status_code=204 if agent.delete(request.path_params["server_id"]) else 404)

    def console(request: Request) -> Response:
        length = request.query_params.get("length", "")
        text = agent.console(request.path_params["server_id"], int(length) if length.isdigit() else None)
        if text is None:
            return refuse(404, "no such server")
        return JSONResponse({"output": text.decode("utf-8", errors="replace")})

    def servers(_request: Request) -> Response:
        return JSONResponse({"servers": [view(s) for s in agent.servers()]})

    def health(_request: Request) -> Response:
        return JSONResponse({"host": agent.host, "rp_uuid": agent.rp_uuid})

    check = Middleware(ConsoleOrConductor, tokens=tokens, console_tokens=console_tokens)
    return Starlette(routes=[
        Route("/servers", spawn, methods=["POST"]),
        Route("/servers/{server_id}", delete, methods=["DELETE"]),
        Route("/servers", servers, methods=["GET"]),
        Route("/servers/{server_id}/console", console, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
    ], middleware=[check])
