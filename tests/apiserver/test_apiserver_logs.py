"""pods/log: the server asks the pod's node agent (LogSource hook) and reports each failure as a Status."""

from __future__ import annotations

import httpx
import pytest

from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.authn import trust_every_caller_as_admin
from berth.declarative.apiserver.status import Problem
from berth.store import MemoryStore
from tests.apiserver.conftest import pod

pytestmark = pytest.mark.anyio
PODS = "/api/v1/namespaces/default/pods"


class Recorded:
    """A LogSource that answers from memory and remembers what it was asked."""

    def __init__(self):
        self.asked = []

    async def open(self, pod, node, container, params):
        self.asked.append((pod["metadata"]["name"], node["metadata"]["name"] if node else None, container,
                           params.get("tailLines")))
        if node is None:
            return Problem(400, "BadRequest", "not scheduled")

        async def chunks():
            yield b"line 1\n"
            yield b"line 2\n"
        return chunks()


async def test_custom_log_source_streams_the_agents_text():
    source = Recorded()
    app = create_app(MemoryStore(), access=trust_every_caller_as_admin(), log_source=source)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://berth") as c:
        await c.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})
        await c.post(PODS, json=pod("p"))
        r = await c.get(f"{PODS}/p/log")
        assert r.status_code == 400 and r.json()["kind"] == "Status"
        await c.post(f"{PODS}/p/binding", json={"target": {"name": "n1"}})
        r = await c.get(f"{PODS}/p/log", params={"tailLines": "5"})
        assert r.status_code == 200 and r.text == "line 1\nline 2\n"
        assert source.asked == [("p", None, "main", None), ("p", "n1", "main", "5")]
        r = await c.get(f"{PODS}/p/log", params={"container": "nope"})
        assert r.status_code == 400 and "not valid" in r.json()["message"]


async def test_default_proxy_failures_are_statuses(client):
    await client.post("/api/v1/nodes", json={"metadata": {"name": "silent"}})
    await client.post("/api/v1/nodes", json={"metadata": {"name": "gone"}, "status": {
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 9}}, "addresses": [{"type": "InternalIP",
                                                                             "address": "127.0.0.1"}]}})
    for name, node in (("a", "silent"), ("b", "gone")):
        await client.post(PODS, json=pod(name))
        await client.post(f"{PODS}/{name}/binding", json={"target": {"name": node}})
    r = await client.get(f"{PODS}/a/log")
    assert r.status_code == 503 and "publishes no kubelet endpoint" in r.json()["message"]
    r = await client.get(f"{PODS}/b/log")
    assert r.status_code == 502 and "cannot reach the node agent" in r.json()["message"]
    r = await client.get(f"{PODS}/missing/log")
    assert r.status_code == 404
