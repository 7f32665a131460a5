"""Console logs read from compute agents, for Nova's `os-getConsoleOutput` (`compute.routes.console_output`).

`AgentConsoles(token).read(agent_url, server_id, length)` asks the server's agent
(`GET /servers/{id}/console?length=N`) with the service token, which agents accept for that read
alone (`berth.centralised.agent.app`).  Refusals are `ApiError`s in Nova's words: the agent does not
know the server (404, "Guest does not have a console available."), the agent did not answer or
refused (409), or this compute API was started without the token (501).  Made by `compute.api.create_app`.
"""

from __future__ import annotations

import httpx

from berth.centralised.compute.errors import ApiError
from berth.centralised.tokens import HEADER

TIMEOUT = 10.0


class AgentConsoles:
    def __init__(self, token: str | None) -> None:
        self._client = httpx.Client(timeout=TIMEOUT, headers={HEADER: token}) if token else None

    def read(self, agent_url: str, server_id: str, length: int) -> str:
        if self._client is None:
            raise ApiError(501, "This compute API has no credential for its compute agents' console logs.")
        params = {"length": str(length)} if length >= 0 else {}
        try:
            reply = self._client.get(f"{agent_url}/servers/{server_id}/console", params=params)
        except httpx.HTTPError:
            raise ApiError(409, f"The compute host of instance {server_id} did not answer.") from None
        if reply.status_code == 404:
            raise ApiError(404, "Guest does not have a console available.")
        if reply.status_code != 200:
            raise ApiError(409, f"The compute host of instance {server_id} refused the console read "
                                f"({reply.status_code}).")
        return reply.json()["output"]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
