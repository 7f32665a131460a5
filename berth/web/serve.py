"""`serve` and `server`: how every HTTP server of both planes runs (uvicorn, with uvloop and httptools).

    from berth.web import Limits, TLSFiles, serve, server
    serve(app, "127.0.0.1", 6443, tls=TLSFiles("srv.crt", "srv.key", client_ca="ca.crt"))   # blocking
    s = server(app, port=0); threading.Thread(target=s.run, kwargs={"sockets": [sock]}).start()
    serve("pkg.module:factory", port=8778, factory=True, workers=4)    # N processes on one socket

Every connection passes the guard (`berth.web.guard`: connection, head, body and TLS handshake limits,
TLS done by the guard, client certificates for `berth.web.peer`), every request the checks
(`berth.web.checks.guarded`: Host allow-list, writes' Content-Type; `checks=False` turns them off).
The default bind is loopback.  At start the process's open-file soft limit is raised to its hard limit,
and `Limits.max_connections` is lowered to fit what remains.  Called by the API server, Placement, the
compute API, the centralised scheduler and agent, and the declarative agents' log endpoint.
"""

from __future__ import annotations

import dataclasses
import resource
import socket
from collections.abc import Iterable
from typing import Any

import uvicorn
from uvicorn.importer import import_from_string
from uvicorn.supervisors import Multiprocess

from berth.web.checks import guarded
from berth.web.guard import GuardedProtocol
from berth.web.limits import Limits
from berth.web.tls import TLSFiles

SPARE_FILES = 256
"""Open files kept for everything but client connections (databases, logs, child processes)."""
WILDCARDS = ("0.0.0.0", "::", "")


def server(app: Any, host: str = "127.0.0.1", port: int = 0, *, tls: TLSFiles | None = None,
           limits: Limits = Limits(), coalesce: bool = True, log_level: str = "warning", checks: bool = True,
           hosts: Iterable[str] = (), factory: bool = False, workers: int = 1, **options: Any) -> uvicorn.Server:
    """A uvicorn `Server` for `app` (an ASGI app, or an import string, a factory's with `factory=True`),
    not yet running: `run()` it, or `run(sockets=[...])` on a socket bound beforehand.  `options` go to
    `uvicorn.Config` as they are (`lifespan`, `log_config`, `timeout_graceful_shutdown`...)."""
    limits = fit_file_limit(limits)
    hosts = (*hosts, *bound_names(host))
    if isinstance(app, str):
        app, factory = Imported(app, factory, hosts if checks else None), True
    elif checks:
        app = guarded(app, hosts=hosts)
    settings: dict[str, Any] = {"access_log": False, "proxy_headers": False, "server_header": False,
                                "timeout_graceful_shutdown": 2, **options}
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, factory=factory, workers=workers,
                            http=GuardedProtocol(limits, tls, coalesce=coalesce), **settings)  # type: ignore[arg-type]
    return uvicorn.Server(config)


def serve(app: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
    """Run `server(app, host, port, **kwargs)` until interrupted; `workers=N` runs N processes on one socket.
    Exits with status 3, as `uvicorn.run`, when the server cannot start (the port is taken, say)."""
    srv = server(app, host, port, **kwargs)
    if srv.config.workers > 1:
        Multiprocess(srv.config, sockets=[srv.config.bind_socket()]).run()
        return
    srv.run()
    if not srv.started:
        raise SystemExit(3)


class Imported:
    """An app named by import string, loaded in the process that serves it (so `workers` can pickle it),
    behind `guarded` unless `hosts` is None."""

    def __init__(self, target: str, factory: bool, hosts: tuple[str, ...] | None) -> None:
        self.target, self.factory, self.hosts = target, factory, hosts

    def __call__(self) -> Any:
        app = import_from_string(self.target)
        app = app() if self.factory else app
        return app if self.hosts is None else guarded(app, hosts=self.hosts)


def bound_names(host: str) -> tuple[str, ...]:
    """Names a client may use for a server bound to `host`: itself, or for a wildcard the machine's names
    and the addresses they resolve to."""
    if host not in WILDCARDS:
        return (f"[{host}]",) if ":" in host else (host,)
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return tuple(sorted(names))


def raise_file_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def fit_file_limit(limits: Limits) -> Limits:
    """`limits` with `max_connections` no higher than the open-file limit (raised first) leaves room for."""
    soft = raise_file_limit()
    if soft == resource.RLIM_INFINITY or limits.max_connections <= soft - SPARE_FILES:
        return limits
    room = max(soft - SPARE_FILES, 1)
    return dataclasses.replace(limits, max_connections=room,
                               max_connections_per_client=min(limits.max_connections_per_client, room))
