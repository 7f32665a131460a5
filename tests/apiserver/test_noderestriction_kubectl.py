"""A node's credential through the real kubectl: it may change its own Node and the status of pods bound to it,
never another node or a pod that is not its own (403, upstream's wording).  The API server is built as its
`__main__` builds it (token file, node authorizer, RBAC with the default roles) and served on loopback."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from berth.declarative.apiserver.__main__ import build, parser
from berth.launch.pki import ClusterPKI
from tests.apiserver.conftest import serving

USERS = {"berth-admin": ("system:masters",), "system:node:n1": ("system:nodes",), "system:node:n2": ("system:nodes",)}
WHO = {"admin": "berth-admin", "n1": "system:node:n1", "n2": "system:node:n2"}


@pytest.fixture
def cluster(tmp_path, kubectl_path):
    """Runs kubectl as `who` (admin, n1, n2: each a bearer token of `<state>/tokens.csv`) over TLS against a
    fresh API server built as `python -m berth.declarative.apiserver` builds it; yields the runner."""
    pki = ClusterPKI(tmp_path / "state")
    cert, key = pki.serving()
    tokens = pki.tokens(USERS)
    args = parser().parse_args(["--store", "memory://", "--tls-cert-file", str(cert), "--tls-private-key-file",
                                str(key), "--token-auth-file", str(pki.tokens_file)])
    with serving(build(args), ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        def run(who: str, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
            flags = [f"--server={url}", f"--certificate-authority={pki.file('ca.crt')}",
                     f"--token={tokens[WHO[who]]}", "--namespace=default"]
            return subprocess.run([kubectl_path, *flags, *argv], input=stdin, capture_output=True, text=True,
                                  env={"HOME": str(tmp_path), "PATH": os.environ.get("PATH", "")}, timeout=60)
        yield run


def node_yaml(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


def pod_yaml(name: str, node: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}})


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def forbidden(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode != 0 and "Error from server (Forbidden)" in proc.stderr, proc.stderr
    assert text in proc.stderr, proc.stderr


def test_node_changes_only_its_own_node_and_bound_pods(cluster):
    ok(cluster("n1", "create", "-f", "-", stdin=node_yaml("n1")))
    forbidden(cluster("n1", "create", "-f", "-", stdin=node_yaml("n2")),
              'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')
    ok(cluster("n2", "create", "-f", "-", stdin=node_yaml("n2")))
    ok(cluster("admin", "create", "-f", "-", stdin=pod_yaml("mine", "n1")))
    ok(cluster("admin", "create", "-f", "-", stdin=pod_yaml("theirs", "n2")))
    ready = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})

    ok(cluster("n1", "patch", "node", "n1", "--subresource=status", "--type=merge", "-p", ready))
    ok(cluster("n1", "label", "node", "n1", "zone=a"))
    assert "KubeletReady" in ok(cluster("admin", "get", "node", "n1", "-o", "jsonpath={.status.conditions}"))
    forbidden(cluster("n1", "patch", "node", "n2", "--subresource=status", "--type=merge", "-p", ready),
              'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')
    forbidden(cluster("n1", "label", "node", "n2", "zone=a"),
              'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')
    forbidden(cluster("n1", "delete", "node", "n1"), 'User "system:node:n1" cannot delete resource "nodes"')

    running = json.dumps({"status": {"phase": "Running"}})
    ok(cluster("n1", "patch", "pod", "mine", "--subresource=status", "--type=merge", "-p", running))
    assert ok(cluster("n1", "get", "pod", "mine", "-o", "jsonpath={.status.phase}")) == "Running"
    forbidden(cluster("n1", "patch", "pod", "theirs", "--subresource=status", "--type=merge", "-p", running),
              'pods "theirs" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to'
              ' itself')
    forbidden(cluster("n1", "delete", "pod", "theirs"),
              'pods "theirs" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself')
    forbidden(cluster("n1", "create", "-f", "-", stdin=pod_yaml("new", "n1")),
              'pods is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only'
              ' create mirror pods')
    assert "theirs" in ok(cluster("n1", "get", "pods"))  # reading is allowed
    assert ok(cluster("admin", "get", "pod", "theirs", "-o", "jsonpath={.status.phase}")) != "Running"
    ok(cluster("n1", "delete", "pod", "mine", "--grace-period=0", "--wait=false"))
