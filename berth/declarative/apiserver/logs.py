"""Where `pods/log` gets its text: the `LogSource` Protocol and the default HTTP proxy to the node agent.

The API server does not run containers, so it asks the node that runs the pod, as kube-apiserver asks the
kubelet. A node agent publishes its port in Node `status.daemonEndpoints.kubeletEndpoint.Port` and its
address in `status.addresses` (InternalIP; 127.0.0.1 when absent); the annotation `berth.dev/log-endpoint`
(a base URL such as 'http://127.0.0.1:10250') overrides both. `AgentLogProxy` then streams
`GET {base}/containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&previous=&...` from it.
Each request carries `Authorization: Bearer <token>` with the token derived from the API server's secret
(`--kubelet-token-file`) for the node that runs the pod (`logtoken.node_log_token`), never the secret
itself: a node that advertises an address of its own captures a token that opens only its own pods' logs.
An agent that refuses it is a 502 for the client, whose own credentials were fine.  Other deployments (the simulator, tests) may pass any object that fills `LogSource`.
"""

from __future__ import annotations

from typing import AsyncIterator, Protocol

import httpx

from berth.declarative.apiserver.status import Problem
from berth.declarative.logtoken import node_log_token

LOG_ENDPOINT_ANNOTATION = "berth.dev/log-endpoint"
LOG_PARAMS = ("follow", "tailLines", "sinceSeconds", "timestamps", "previous", "limitBytes")


class LogSource(Protocol):
    """Fetches one container's log for the API server.

    `open(pod, node, container, params)` is awaited once per `pods/log` request, after the server checked
    that the pod exists and named a container. It returns either an async iterator of byte chunks (the
    server streams them to the client as text/plain until it ends or the client goes away) or a `Problem`
    (e.g. 400 when the pod has no node yet, 502/503 when the node's agent cannot be reached) that the server
    sends as a Status.
    """

    async def open(self, pod: dict, node: dict | None, container: str,
                   params: dict[str, str]) -> AsyncIterator[bytes] | Problem: ...


class AgentLogProxy:
    """The default `LogSource`: proxies to the node's agent, sending the token derived from `token` (the
    shared secret) for that node as its bearer credential."""

    def __init__(self, timeout: float = 10.0, *, token: str | None = None) -> None:
        self.timeout = timeout
        self._secret = token

    def headers(self, node: str) -> dict[str, str]:
        """The Authorization header for `node`'s agent (none without a secret)."""
        return {"Authorization": f"Bearer {node_log_token(self._secret, node)}"} if self._secret else {}

    async def open(self, pod, node, container, params):
        name = pod["metadata"]["name"]
        if node is None:
            return Problem(400, "BadRequest", f'pod "{name}" is not scheduled to a node yet; no logs are available')
        base = agent_url(node)
        if not base:
            return Problem(503, "ServiceUnavailable", f'node "{node["metadata"]["name"]}" publishes no kubelet'
                           f" endpoint (status.daemonEndpoints.kubeletEndpoint.Port or {LOG_ENDPOINT_ANNOTATION})")
        url = f"{base.rstrip('/')}/containerLogs/{pod['metadata']['namespace']}/{name}/{container}"
        client = httpx.AsyncClient(timeout=httpx.Timeout(self.timeout, read=None))
        try:
            request = client.build_request("GET", url, params={k: v for k, v in params.items() if k in LOG_PARAMS},
                                           headers=self.headers(node["metadata"]["name"]))
            response = await client.send(request, stream=True)
        except httpx.HTTPError as err:
            await client.aclose()
            return Problem(502, "BadGateway", f"cannot reach the node agent at {base}: {err}")
        if response.status_code in (401, 403):
            await response.aclose()
            await client.aclose()
            return Problem(502, "BadGateway", f"the node agent at {base} refused the API server's credential")
        if response.status_code != 200:
            text = (await response.aread()).decode(errors="replace")[:500]
            await response.aclose()
            await client.aclose()
            return Problem(response.status_code if 400 <= response.status_code < 600 else 502, "BadRequest",
                           text or f"the node agent answered {response.status_code}")
        return _relay(client, response)


def agent_url(node: dict) -> str:
    """The node agent's base URL from its annotation, or from its daemon endpoint and InternalIP address."""
    base = ((node.get("metadata") or {}).get("annotations") or {}).get(LOG_ENDPOINT_ANNOTATION)
    if base:
        return base
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not port:
        return ""
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or [] if isinstance(a, dict)}
    return f"http://{addrs.get('InternalIP') or '127.0.0.1'}:{port}"


async def _relay(client: httpx.AsyncClient, response: httpx.Response):
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    finally:
        await response.aclose()
        await client.aclose()
