"""A live Placement server for tests: uvicorn on a loopback port in a background thread.

`LiveServer` serves whatever `PlacementService` it currently holds; `reset()` swaps in a
fresh one (new in-memory or file database), which is how the gabbi harness gives every
upstream YAML file an empty database without restarting the HTTP server.  Requests are
authenticated by the test tables of `tests.centralised.creds` (`client()` sends the admin
token), or by upstream's `noauth2` when the gabbi harness asks for it, as upstream's own
functional tests do.
"""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

from berth.centralised.placement import PlacementService
from berth.centralised.tokens import Authenticator
from berth.launch.ports import free_port
from tests.centralised.creds import ADMIN, TOKENS


class LiveServer:
    """uvicorn in a thread, delegating every request to the current service's ASGI app."""

    def __init__(self, db_url: str = "sqlite://", auth: Authenticator = TOKENS) -> None:
        self.db_url, self.auth = db_url, auth
        self.service = PlacementService(db_url, auth=auth)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self._app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="off", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    async def _app(self, scope, receive, send):  # noqa: ANN001 - ASGI
        await self.service.app(scope, receive, send)

    def start(self) -> "LiveServer":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("placement test server did not start")
            time.sleep(0.02)
        return self

    def reset(self, db_url: str | None = None, **options) -> PlacementService:  # noqa: ANN003
        """Serve a brand-new service (empty database) from now on."""
        self.service = PlacementService(db_url or self.db_url, auth=self.auth, **options)
        return self.service

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"x-auth-token": ADMIN,
                                                         "openstack-api-version": "placement latest"})
