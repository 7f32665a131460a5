"""The agent's log endpoint (the kubelet's /containerLogs path) with real processes: tail, follow, 404; and that it
answers only the token derived from the API server's secret for the node that runs the pod, which the API server's
log proxy sends (a token derived for another node, as a node could capture by advertising its own address, is 401)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import httpx
from kube_objects import pod_obj

from berth.declarative.agent import AgentHost, NodeAgent
from berth.declarative.agent.logserver import LogServer
from berth.declarative.apiserver.logs import AgentLogProxy
from berth.declarative.apiserver.status import Problem
from berth.declarative.logtoken import node_log_token
from berth.runtime import ProcessRuntime

SECRET = "s3cret-token-of-the-api-server"
TOKEN = node_log_token(SECRET, "n1")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_logs_tail_follow_and_unknown_pods(tmp_path):
    agent = NodeAgent("n1", ProcessRuntime(tmp_path), {"cpu": "1", "memory": "1Gi"})
    host = AgentHost("http://127.0.0.1:9", [agent], log_token=SECRET)  # never started: only the log server is used
    host.log_server.start()
    base = f"http://127.0.0.1:{host.log_server.port}/containerLogs/default"
    pod = pod_obj("talker", node="n1")
    pod["spec"]["containers"][0]["command"] = [sys.executable, "-u", "-c",
                                               "import time\nfor i in range(6):\n print('line', i)\n time.sleep(0.3)"]
    try:
        with host.lock:
            agent.observe(pod, time.time())
            agent.sync(time.time())
        deadline = time.monotonic() + 10
        while b"line 1" not in (agent.logs("default", "talker", None, None, False) or b""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert httpx.get(f"{base}/talker/main?tailLines=1", headers=AUTH).text.startswith("line ")
        followed = []

        def sync_until_done():
            while not host.container_done("default", "talker", "main"):
                with host.lock:
                    agent.sync(time.time())
                time.sleep(0.1)

        syncer = threading.Thread(target=sync_until_done, daemon=True)
        syncer.start()
        with httpx.stream("GET", f"{base}/talker/main?follow=true", headers=AUTH, timeout=20) as resp:
            for line in resp.iter_lines():
                followed.append(line)
        syncer.join(timeout=10)
        assert followed == [f"line {i}" for i in range(6)], "follow streams every line, then ends with the process"
        assert httpx.get(f"{base}/nobody/main", headers=AUTH).status_code == 404
    finally:
        host.log_server.stop()
        agent.runtime.close()


class Hello:
    """A log source whose every container says hello; pods named p2... run on n2, every other on n1."""

    def node_of(self, namespace, pod):
        return "n2" if pod.startswith("p2") else "n1"

    def logs(self, namespace, pod, container, tail, previous):
        return f"hello from {pod}\n".encode()

    def container_done(self, namespace, pod, container):
        return True

    def stopping(self):
        return False


WRONG = [None, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"},
         {"Authorization": f"bearer {TOKEN}x"}, {"Authorization": f"Bearer {TOKEN[:-1]}"},
         {"Authorization": f"Bearer {SECRET}"}, {"Authorization": f"Bearer {node_log_token(SECRET, 'n2')}"},
         {"Authorization": f"Bearer {node_log_token('another secret', 'n1')}"}]


def test_log_endpoint_answers_only_the_api_servers_token():
    server = LogServer(Hello(), token=SECRET, nodes=["n1", "n2"]).start()
    url = f"http://127.0.0.1:{server.port}/containerLogs/default/p1/main"
    try:
        assert httpx.get(url, headers=AUTH).text == "hello from p1\n"
        for headers in WRONG:
            r = httpx.get(url, headers=headers)
            assert r.status_code == 401 and r.text == "Unauthorized\n", headers
            assert "p1" not in r.text and TOKEN not in str(r.headers)
        r = httpx.get(f"http://127.0.0.1:{server.port}/elsewhere", headers={"Authorization": "Bearer <b>probe</b>"})
        assert r.status_code == 401 and "probe" not in r.text + str(r.headers), "no client text is echoed"
        with httpx.Client() as c:  # the same header twice is refused, even when one copy is right
            request = c.build_request("GET", url, headers=[("Authorization", f"Bearer {TOKEN}"),
                                                           ("Authorization", "Bearer wrong")])
            assert c.send(request).status_code == 401
    finally:
        server.stop()


def test_a_nodes_token_opens_only_its_own_pods_logs():
    """A node that advertises its own address captures the token for itself: it opens its pods' logs, not
    another node's (401, as any wrong token); the host's own map of pods decides which node runs which."""
    server = LogServer(Hello(), token=SECRET, nodes=["n1", "n2"]).start()
    base = f"http://127.0.0.1:{server.port}/containerLogs/default"
    as_n2 = {"Authorization": f"Bearer {node_log_token(SECRET, 'n2')}"}
    try:
        assert httpx.get(f"{base}/p2/main", headers=as_n2).text == "hello from p2\n"
        refused = httpx.get(f"{base}/p1/main", headers=as_n2)
        assert refused.status_code == 401 and refused.text == "Unauthorized\n"
        assert httpx.get(f"{base}/p2/main", headers=AUTH).status_code == 401
        assert httpx.get(f"{base}/p1/main", headers=AUTH).text == "hello from p1\n"
    finally:
        server.stop()


def test_log_endpoint_without_a_token_refuses_everyone():
    server = LogServer(Hello(), nodes=["n1"]).start()
    url = f"http://127.0.0.1:{server.port}/containerLogs/default/p1/main"
    try:
        for headers in (None, {"Authorization": "Bearer"}, {"Authorization": "Bearer None"}, AUTH):
            assert httpx.get(url, headers=headers).status_code == 401
    finally:
        server.stop()


def node(port: int, name: str = "n1") -> dict:
    return {"metadata": {"name": name}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                                                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}


def test_api_servers_log_proxy_sends_its_token():
    """The proxy sends the token derived for the node that runs the pod, which opens that node's logs."""
    pod = {"metadata": {"name": "p1", "namespace": "default"}}
    server = LogServer(Hello(), token=SECRET, nodes=["n1", "n2"]).start()

    async def read(proxy, pod=pod, name="n1"):
        got = await proxy.open(pod, node(server.port, name), "main", {})
        if isinstance(got, Problem):
            return got
        return b"".join([chunk async for chunk in got])

    try:
        assert asyncio.run(read(AgentLogProxy(token=SECRET))) == b"hello from p1\n"
        assert asyncio.run(read(AgentLogProxy(token=SECRET), {"metadata": {"name": "p2", "namespace": "default"}},
                                "n2")) == b"hello from p2\n"
        assert AgentLogProxy(token=SECRET).headers("n1") == AUTH
        for proxy in (AgentLogProxy(), AgentLogProxy(token="stolen")):
            problem = asyncio.run(read(proxy))
            assert isinstance(problem, Problem) and problem.code == 502, "the client's own credentials were fine"
            assert "refused the API server's credential" in problem.message and "stolen" not in problem.message
    finally:
        server.stop()
