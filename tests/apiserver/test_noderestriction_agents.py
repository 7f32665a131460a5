"""Everything berth's node agents do is allowed for their own credentials: an `AgentHost` whose nodes each write
with their own token registers its Nodes and Leases, renews them, reads its pods, reports their status and
finishes their deletion against an API server with the node authorizer and RBAC, over TLS; and the token
projector's TokenRequest passes NodeRestriction only for a pod bound to the asking node."""

from __future__ import annotations

import time

from berth.declarative.agent import AgentHost, NodeAgent
from berth.declarative.agent.satoken import token_requester
from berth.declarative.apiserver.__main__ import build, parser
from berth.declarative.client import ApiError, Credentials, KubeClient
from berth.declarative.names import LEASE_NAMESPACE
from berth.launch.pki import ClusterPKI
from berth.runtime import FakeRuntime
from tests.apiserver.conftest import serving
from tests.apiserver.test_noderestriction_kubectl import USERS


def wait_for(check, what: str, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_agents_do_their_whole_job_with_node_credentials(tmp_path):
    pki = ClusterPKI(tmp_path / "state")
    cert, key = pki.serving()
    tokens = pki.tokens(USERS)
    args = parser().parse_args(["--store", "memory://", "--tls-cert-file", str(cert), "--tls-private-key-file",
                                str(key), "--token-auth-file", str(pki.tokens_file)])
    ca = str(pki.file("ca.crt"))
    with serving(build(args), ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        node_tokens = {n: tokens[f"system:node:{n}"] for n in ("n1", "n2")}
        agents = [NodeAgent(n, FakeRuntime(), {"cpu": "4", "memory": "8Gi", "pods": "110"}) for n in node_tokens]
        host = AgentHost(url, agents, lease_interval=0.2, status_interval=0.2, serve_logs=False,
                         credentials=Credentials(server=url, ca_file=ca, token=node_tokens["n1"]),
                         node_tokens=node_tokens)
        admin = KubeClient(url, credentials=Credentials(server=url, ca_file=ca, token=tokens["berth-admin"]))
        host.start()
        try:
            for name in node_tokens:
                assert admin.get("nodes", name)["status"]["conditions"][0]["type"] == "Ready"
                assert admin.get("leases", name, LEASE_NAMESPACE)["spec"]["holderIdentity"] == name
            renewed = admin.get("leases", "n2", LEASE_NAMESPACE)["spec"]["renewTime"]
            wait_for(lambda: admin.get("leases", "n2", LEASE_NAMESPACE)["spec"]["renewTime"] != renewed, "a renewal")
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"nodeName": "n2", "containers": [{"name": "main", "image": "busybox"}]}}
            admin.create("pods", pod, "default")
            wait_for(lambda: admin.get("pods", "p", "default").get("status", {}).get("phase") == "Running",
                     "the agent's status report")
            admin.delete("pods", "p", "default")
            wait_for(lambda: _gone(admin, "p"), "the agent's final deletion")
            assert host.writes >= 2, "status and deletion were written as the pod's node"
        finally:
            host.stop()
            admin.close()


def _gone(client: KubeClient, name: str) -> bool:
    try:
        client.get("pods", name, "default")
    except ApiError as err:
        return err.code == 404
    return False


def test_agents_token_requests_pass_only_for_their_own_pods(tmp_path):
    """The projector's TokenRequest, as a node: granted for a pod bound to it, 403 for another node's pod."""
    pki = ClusterPKI(tmp_path / "state")
    cert, key = pki.serving()
    tokens = pki.tokens(USERS)
    args = parser().parse_args(["--store", "memory://", "--tls-cert-file", str(cert), "--tls-private-key-file",
                                str(key), "--token-auth-file", str(pki.tokens_file),
                                "--service-account-key-file", str(pki.service_account_key())])
    ca = str(pki.file("ca.crt"))
    with serving(build(args), ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        admin = KubeClient(url, credentials=Credentials(server=url, ca_file=ca, token=tokens["berth-admin"]))
        n1 = KubeClient(url, credentials=Credentials(server=url, ca_file=ca, token=tokens["system:node:n1"]))
        try:
            if not _exists(admin, "serviceaccounts", "default"):
                admin.create("serviceaccounts", {"metadata": {"name": "default"}}, "default")
            uids = {}
            for name, node in (("mine", "n1"), ("theirs", "n2")):
                pod = {"metadata": {"name": name},
                       "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}}
                uids[name] = admin.create("pods", pod, "default")["metadata"]["uid"]
            request = token_requester(n1)
            token, expiry = request("default", "default", "mine", uids["mine"])
            assert token and expiry > time.time()
            try:
                request("default", "default", "theirs", uids["theirs"])
            except ApiError as err:
                assert err.code == 403 and "scheduled on a different node" in str(err)
            else:
                raise AssertionError("a node got a token bound to another node's pod")
        finally:
            n1.close()
            admin.close()


def _exists(client: KubeClient, plural: str, name: str) -> bool:
    try:
        client.get(plural, name, "default")
    except ApiError as err:
        assert err.code == 404
        return False
    return True
