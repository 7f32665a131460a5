"""The agent's log endpoint (the kubelet's /containerLogs path) with real processes: tail, follow, 404."""

from __future__ import annotations

import sys
import threading
import time

import httpx
from kube_objects import pod_obj

from berth.declarative.agent import AgentHost, NodeAgent
from berth.runtime import ProcessRuntime


def test_logs_tail_follow_and_unknown_pods(tmp_path):
    agent = NodeAgent("n1", ProcessRuntime(tmp_path), {"cpu": "1", "memory": "1Gi"})
    host = AgentHost("http://127.0.0.1:9", [agent])  # never started: only the log server is used
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
        assert httpx.get(f"{base}/talker/main?tailLines=1").text.startswith("line ")
        followed = []

        def sync_until_done():
            while not host.container_done("default", "talker", "main"):
                with host.lock:
                    agent.sync(time.time())
                time.sleep(0.1)

        syncer = threading.Thread(target=sync_until_done, daemon=True)
        syncer.start()
        with httpx.stream("GET", f"{base}/talker/main?follow=true", timeout=20) as resp:
            for line in resp.iter_lines():
                followed.append(line)
        syncer.join(timeout=10)
        assert followed == [f"line {i}" for i in range(6)], "follow streams every line, then ends with the process"
        assert httpx.get(f"{base}/nobody/main").status_code == 404
    finally:
        host.log_server.stop()
        agent.runtime.close()
