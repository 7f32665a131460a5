"""The scheduler as a process component over HTTP: binding, FailedScheduling events, preemption.

A `LocalCluster` runs the API server (child process), the scheduler and fake-runtime node agents;
the test talks to the API with `KubeClient` and waits for what the scheduler writes.
"""

from __future__ import annotations

import pytest

import waiting

from berth.declarative.client import ApiError, KubeClient
from berth.launch.declarative import LocalCluster


def pod(name, cpu, priority=0):
    spec = {"containers": [{"name": "c", "image": "pause", "resources": {"requests": {"cpu": cpu}}}]}
    if priority:
        spec["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def eventually(check, timeout=30.0):
    return waiting.eventually(check, timeout, interval=0.1)


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster(nodes=2, runtime="fake", controllers=False, node_capacity={"cpu": "1", "memory": "1Gi",
                                                                                "pods": "10"})
    c.start()
    client = KubeClient(c.url, credentials=c.admin)
    yield c, client
    client.close()
    c.stop()


def node_of(client, name):
    try:
        return client.get("pods", name, "default").get("spec", {}).get("nodeName")
    except ApiError:
        return None


def test_pods_are_bound_and_spread(cluster):
    _, client = cluster
    client.create("pods", pod("a", "600m"), "default")
    client.create("pods", pod("b", "600m"), "default")
    nodes = eventually(lambda: (lambda x: x if all(x) else None)([node_of(client, "a"), node_of(client, "b")]))
    assert sorted(nodes) == ["node-0", "node-1"], "least-allocated spreads"
    running = eventually(lambda: client.get("pods", "a", "default")["status"].get("phase") == "Running")
    assert running


def test_unschedulable_pod_gets_an_upstream_worded_event(cluster):
    _, client = cluster
    client.create("pods", pod("huge", "2"), "default")
    events = eventually(lambda: client.list("events", "default", field_selector="involvedObject.name=huge")["items"])
    assert events[0]["reason"] == "FailedScheduling" and events[0]["type"] == "Warning"
    assert events[0]["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
    cond = eventually(lambda: [c for c in client.get("pods", "huge", "default")["status"].get("conditions") or []
                               if c["type"] == "PodScheduled"])
    assert cond[0]["status"] == "False" and cond[0]["reason"] == "Unschedulable"
    client.delete("pods", "huge", "default")


def test_higher_priority_pod_preempts_a_lower_one(cluster):
    _, client = cluster
    victim_node = node_of(client, "a")
    client.create("pods", pod("vip", "600m", priority=1000), "default")
    vip_node = eventually(lambda: node_of(client, "vip"), timeout=60)
    gone = [name for name in ("a", "b") if node_of(client, name) is None]
    assert len(gone) == 1, "exactly one lower-priority victim was deleted"
    assert vip_node in ("node-0", "node-1") and (victim_node == vip_node) == (gone == ["a"])
