"""The controllers over HTTP with fake-runtime agents: node failure and cascading deletion.

A silent agent's node is tainted unreachable, its pods are evicted after their tolerationSeconds,
and the Deployment's ReplicaSet recreates them elsewhere.  Deleting a Deployment in the foreground
removes its pods and ReplicaSet before the Deployment itself; orphaning keeps the pods.
"""

from __future__ import annotations

import waiting

from berth.declarative.client import ApiError, KubeClient
from berth.launch.declarative import LocalCluster


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
    return waiting.eventually(check, timeout, interval=0.2)


def test_silent_node_is_tainted_and_its_pods_move():
    cluster = LocalCluster(nodes=2, runtime="fake", lease_interval=0.5, node_grace=3.0)
    cluster.start()
    client = KubeClient(cluster.url, credentials=cluster.admin)
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


def test_foreground_and_orphan_deletion():
    cluster = LocalCluster(nodes=1, runtime="fake")
    cluster.start()
    client = KubeClient(cluster.url, credentials=cluster.admin)
    try:
        client.create("deployments", deployment(2), "default")
        pods = lambda: client.list("pods", "default", label_selector="app=web")["items"]  # noqa: E731
        eventually(lambda: len([p for p in pods() if p["status"].get("phase") == "Running"]) == 2)
        client.delete("deployments", "web", "default", propagation="Foreground")
        assert client.get("deployments", "web", "default")["metadata"].get("deletionTimestamp")

        def gone():
            try:
                client.get("deployments", "web", "default")
            except ApiError as err:
                return err.code == 404
            return False

        eventually(gone)
        assert pods() == [] and client.list("replicasets", "default")["items"] == []

        client.create("deployments", deployment(2), "default")
        eventually(lambda: len([p for p in pods() if p["status"].get("phase") == "Running"]) == 2)
        [rs] = client.list("replicasets", "default")["items"]
        client.delete("deployments", "web", "default", propagation="Orphan")
        eventually(gone)
        client.delete("replicasets", rs["metadata"]["name"], "default", propagation="Orphan")
        eventually(lambda: client.list("replicasets", "default")["items"] == [])
        orphans = eventually(lambda: (lambda ps: ps if len(ps) == 2 and not any(
            p["metadata"].get("ownerReferences") for p in ps) else None)(pods()))
        assert all(p["status"]["phase"] == "Running" for p in orphans)
    finally:
        client.close()
        cluster.stop()
