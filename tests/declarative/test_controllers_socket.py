"""Node failure end to end over HTTP: a silent agent's node is tainted unreachable, its pods are
evicted after their tolerationSeconds, and the Deployment's ReplicaSet recreates them elsewhere."""

from __future__ import annotations

import time

from berth.declarative.client import KubeClient
from berth.sim.kubecluster import LocalCluster


def deployment(replicas: int) -> dict:
    toleration = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 1}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"tolerations": [toleration],
                                           "containers": [{"name": "c", "image": "pause",
                                                           "resources": {"requests": {"cpu": "100m"}}}]}}}}


def eventually(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_silent_node_is_tainted_and_its_pods_move():
    cluster = LocalCluster(nodes=2, runtime="fake", lease_interval=0.5, node_grace=3.0)
    cluster.start()
    client = KubeClient(cluster.url)
    try:
        client.create("deployments", deployment(4), "default")

        def running():
            pods = client.list("pods", "default", label_selector="app=web")["items"]
            return [p for p in pods if p["status"].get("phase") == "Running"
                    and not p["metadata"].get("deletionTimestamp")]

        eventually(lambda: len(running()) == 4)
        assert {p["spec"]["nodeName"] for p in running()} == {"node-0", "node-1"}
        with cluster.host.lock:
            cluster.host.agents.pop("node-1")  # the agent goes silent: no lease, no pod sync
        node = eventually(lambda: (lambda n: n if any(t["key"] == "node.kubernetes.io/unreachable"
                                                      for t in n["spec"].get("taints") or []) else None)(
            client.get("nodes", "node-1")))
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown"
        moved = eventually(lambda: (lambda r: r if len(r) == 4 and {p["spec"]["nodeName"] for p in r} == {"node-0"}
                                    else None)(running()))
        assert len(moved) == 4
        evictions = client.list("events", "default", field_selector="reason=TaintManagerEviction")["items"]
        assert evictions, "the evictions were recorded as events"
    finally:
        client.close()
        cluster.stop()
