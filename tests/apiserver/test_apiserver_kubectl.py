"""The real kubectl (/usr/bin/kubectl) against the API server over a real socket: the server-side half of the
end-to-end list -- apply, get -o wide, scale, logs (through the node agent hook), describe with events,
get nodes, delete with graceful termination (a small stand-in agent finishes the deletion as a kubelet would).
The server runs as `berth up` runs it (its own process, TLS, authentication, RBAC); kubectl uses the
administrator's kubeconfig, the test's own calls the same credentials.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest

from berth.declarative.agent.logserver import LogServer
from tests.apiserver.secured import admin_http, api_server

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.usefixtures("kubectl_path")  # a missing kubectl fails these tests

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: busybox:1.36
        command: ["sh", "-c", "echo hello; sleep 3600"]
        resources:
          requests: {cpu: 100m, memory: 1.5Gi}
        env:
        - {name: GREETING, value: "%s"}
"""


@pytest.fixture
def cluster():
    with api_server() as c:
        yield c


@pytest.fixture
def kubectl(cluster, tmp_path):
    env = {"KUBECONFIG": str(cluster.kubeconfig), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc

    return run


class StandInLogs:
    """A stand-in node agent's logs: every container, on node-a, says hello; nothing stops."""

    def node_of(self, namespace, pod):
        return "node-a"

    def logs(self, namespace, pod, container, tail, previous):
        return f"hello from {pod}/{container}\n".encode()

    def container_done(self, namespace, pod, container):
        return True

    def stopping(self):
        return False


@pytest.fixture
def log_agent(cluster):
    """The agents' real log endpoint (`LogServer`) on loopback, over a stand-in source; it answers only the
    token the cluster's API server derives for node-a from its `--kubelet-token-file`."""
    server = LogServer(StandInLogs(), token=cluster.identities.kubelet_token, nodes=["node-a"]).start()
    yield server.port
    server.stop()


def add_running_pods(cluster, node: str, agent_port: int) -> list[str]:
    """Play scheduler and agent for the test: register a node, create the deployment's pods, bind them, run them."""
    with admin_http(cluster) as c:
        c.post("/api/v1/nodes", json={"metadata": {"name": node}, "status": {
            "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": agent_port}},
            "nodeInfo": {"kubeletVersion": "v1.32.0-berth"}}}).raise_for_status()
        names = []
        template = c.get("/apis/apps/v1/namespaces/default/deployments/web").json()["spec"]["template"]
        for i in range(3):
            name = f"web-{i}"
            body = {"metadata": {"name": name, "labels": template["metadata"]["labels"]}, "spec": template["spec"]}
            c.post("/api/v1/namespaces/default/pods", json=body).raise_for_status()
            c.post(f"/api/v1/namespaces/default/pods/{name}/binding", json={"target": {"name": node}})
            status = {"status": {"phase": "Running", "podIP": f"10.0.0.{i + 1}", "containerStatuses": [
                {"name": "main", "ready": True, "restartCount": 0, "image": "busybox:1.36", "imageID": "",
                 "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}}
            c.patch(f"/api/v1/namespaces/default/pods/{name}/status", json=status,
                    headers={"content-type": "application/merge-patch+json"}).raise_for_status()
            names.append(name)
        return names


def finish_deletions(cluster, stop: threading.Event) -> None:
    """What a kubelet does after a graceful delete: stop the containers, then delete with grace period 0."""
    with admin_http(cluster) as c:
        while not stop.wait(0.1):
            for p in c.get("/api/v1/pods").json()["items"]:
                if p["metadata"].get("deletionTimestamp"):
                    c.delete(f"/api/v1/namespaces/default/pods/{p['metadata']['name']}",
                             params={"gracePeriodSeconds": 0})


def test_kubectl_apply_get_scale_logs_describe_delete(kubectl, cluster, log_agent):
    out = kubectl("apply", "-f", "-", stdin=DEPLOYMENT % "one").stdout
    assert "deployment.apps/web created" in out
    out = kubectl("apply", "-f", "-", stdin=DEPLOYMENT % "two").stdout
    assert "deployment.apps/web configured" in out
    env = kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].env[0].value}")
    assert env.stdout == "two"
    assert "unchanged" in kubectl("apply", "-f", "-", stdin=DEPLOYMENT % "two").stdout

    pods = add_running_pods(cluster, "node-a", log_agent)
    wide = kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:8] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED"]
    rows = {line.split()[0]: line.split() for line in wide[1:]}
    assert sorted(rows) == pods
    assert all(r[1] == "1/1" and r[2] == "Running" and r[6] == "node-a" for r in rows.values())

    assert "deployment.apps/web scaled" in kubectl("scale", "deployment/web", "--replicas=5").stdout
    assert kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5"

    assert kubectl("logs", "web-0").stdout == "hello from web-0/main\n"

    nodes = kubectl("get", "nodes").stdout.splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes[1].split()[:2] == ["node-a", "Ready"]

    http = admin_http(cluster)
    uid = http.get("/api/v1/namespaces/default/pods/web-0").json()["metadata"]["uid"]
    event = {"metadata": {"name": "web-0.failed"}, "type": "Warning", "reason": "FailedScheduling",
             "message": "0/1 nodes are available: 1 Insufficient cpu.",
             "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-0", "apiVersion": "v1",
                              "uid": uid},
             "source": {"component": "default-scheduler"}, "count": 1}
    http.post("/api/v1/namespaces/default/events", json=event).raise_for_status()
    http.close()
    described = kubectl("describe", "pod", "web-0").stdout
    assert "Node:             node-a/" in described or "node-a" in described
    assert "FailedScheduling" in described and "0/1 nodes are available: 1 Insufficient cpu." in described

    stop = threading.Event()
    agent = threading.Thread(target=finish_deletions, args=(cluster, stop), daemon=True)
    agent.start()
    try:
        assert 'pod "web-0" deleted' in kubectl("delete", "pod", "web-0", "--timeout=30s").stdout
        assert 'deployment.apps "web" deleted' in kubectl("delete", "deployment", "web").stdout
    finally:
        stop.set()
        agent.join(5)
    assert "NotFound" in kubectl("get", "pod", "web-0", ok=False).stderr
    assert kubectl("get", "deployments", "-o", "name").stdout == ""


def test_kubectl_rejects_bad_objects_with_server_messages(kubectl):
    bad_field = DEPLOYMENT.replace("replicas: 3", "replicas: 3\n  bogus: 1") % "x"
    proc = kubectl("apply", "-f", "-", stdin=bad_field, ok=False)
    assert proc.returncode != 0 and 'unknown field "spec.bogus"' in proc.stderr
    bad_quantity = (DEPLOYMENT % "x").replace("100m", "100 millicores")
    proc = kubectl("apply", "-f", "-", stdin=bad_quantity, ok=False)
    assert proc.returncode != 0 and "quantities must match the regular expression" in proc.stderr
    proc = kubectl("get", "widgets", ok=False)
    assert proc.returncode != 0 and "doesn't have a resource type" in proc.stderr
