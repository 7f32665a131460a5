"""Projected ServiceAccount tokens: the file (0600, in a 0700 directory), the containers' environment, renewal,
removal, opting out, and, over a socket, a projected token that authenticates as the pod's ServiceAccount."""

from __future__ import annotations

import logging
import stat

from cryptography.hazmat.primitives.asymmetric import ec

from berth.declarative.agent.node import NodeAgent
from berth.declarative.agent.satoken import MOUNT_PATH, TOKEN_FILE_ENV, TokenProjector, token_requester
from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.access import ALLOW, Chain
from berth.declarative.apiserver.authn import ServiceAccountTokens, TokenFile
from berth.declarative.apiserver.serviceaccounts import Issuer
from berth.declarative.client import ApiError, Credentials, KubeClient
from berth.launch.declarative import LocalCluster
from berth.runtime import ManualClock, Mount
from berth.runtime.fake import FakeRuntime
from berth.store import MemoryStore
from tests.apiserver.conftest import serving
from tests.declarative.waiting import eventually


def a_pod(name: str = "p", uid: str = "u1", **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "sleep", "env": [
                {"name": "KUBERNETES_SERVICE_PORT", "value": "1"}]}], **spec}}


class Requests:
    def __init__(self, now):
        self.calls, self.now = [], now

    def __call__(self, namespace, account, pod, uid):
        self.calls.append((namespace, account, pod, uid))
        if account == "refused":
            raise ApiError(403, "Forbidden", "no")
        return f"token-{len(self.calls)}", self.now[0] + 1000


def projector(tmp_path, now):
    requests = Requests(now)
    return TokenProjector(requests, tmp_path / "pods", ("127.0.0.1", 6443), clock=lambda: now[0]), requests


def test_token_file_is_private_and_named_in_the_environment(tmp_path):
    now = [100.0]
    tokens, requests = projector(tmp_path, now)
    env = tokens.env(a_pod())
    path = tmp_path / "pods" / "default_p_u1" / "token"
    assert env == {TOKEN_FILE_ENV: str(path), "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    assert path.read_text() == "token-1" and requests.calls == [("default", "default", "p", "u1")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    tokens.refresh()
    assert len(requests.calls) == 1
    now[0] += 801  # past 80% of the 1000 s lifetime
    tokens.refresh()
    assert path.read_text() == "token-2" and stat.S_IMODE(path.stat().st_mode) == 0o600
    tokens.forget(a_pod())
    assert not path.parent.exists()


def test_opt_out_and_refusal_give_no_token(tmp_path, caplog):
    tokens, requests = projector(tmp_path, [0.0])
    assert tokens.env(a_pod(automountServiceAccountToken=False)) == {}
    assert requests.calls == []
    with caplog.at_level(logging.WARNING):
        assert tokens.env(a_pod(serviceAccountName="refused")) == {}
    assert "no service account token" in caplog.text


def test_node_agent_starts_containers_with_the_projected_token(tmp_path):
    tokens, _ = projector(tmp_path, [0.0])
    runtime = FakeRuntime(ManualClock())
    agent = NodeAgent("n1", runtime, {"cpu": "1"}, tokens=tokens)
    agent.observe(a_pod(), 0.0)
    agent.sync(0.0)
    env = runtime._units["default/p/c"].spec.env
    assert env[TOKEN_FILE_ENV].endswith("default_p_u1/token")
    assert env["KUBERNETES_SERVICE_PORT"] == "1"  # the container's own value wins
    agent.forget(a_pod())
    assert not (tmp_path / "pods" / "default_p_u1").exists()


class ContainerLike(FakeRuntime):
    name = "container"  # a runtime whose units have a filesystem of their own


def test_a_container_runtime_gets_the_tokens_directory_mounted_at_the_kubelets_path(tmp_path):
    tokens, _ = projector(tmp_path, [0.0])
    runtime = ContainerLike(ManualClock())
    agent = NodeAgent("n1", runtime, {"cpu": "1"}, tokens=tokens)
    agent.observe(a_pod(), 0.0)
    agent.sync(0.0)
    spec = runtime._units["default/p/c"].spec
    assert spec.env[TOKEN_FILE_ENV] == f"{MOUNT_PATH}/token" == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert spec.mounts == (Mount(str(tmp_path / "pods" / "default_p_u1"), MOUNT_PATH, True),)
    agent.observe(a_pod("q", "u2", automountServiceAccountToken=False), 0.0)
    agent.sync(0.0)
    opted_out = runtime._units["default/q/c"].spec
    assert opted_out.mounts == () and TOKEN_FILE_ENV not in opted_out.env


def test_projected_token_authenticates_as_the_pods_service_account(tmp_path):
    store, issuer = MemoryStore(), Issuer(ec.generate_private_key(ec.SECP256R1()))

    class Everyone:
        def authorize(self, user, attrs):
            return ALLOW

    chain = Chain([TokenFile([["admin-token-000", "admin", "1", "system:masters"]]),
                   ServiceAccountTokens(issuer, store)], [Everyone()])
    with serving(create_app(store, access=chain, issuer=issuer)) as url:
        admin = KubeClient(url, credentials=Credentials(token="admin-token-000"))
        admin.create("serviceaccounts", {"metadata": {"name": "default"}}, "default")
        created = admin.create("pods", {"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "c", "image": "i"}]}}, "default")
        tokens = TokenProjector(token_requester(admin), tmp_path, ("127.0.0.1", 1))
        env = tokens.env(created)
        as_pod = KubeClient(url, credentials=Credentials(token=open(env[TOKEN_FILE_ENV]).read()))
        review = as_pod.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
        assert review["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"
        assert review["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
        admin.close(), as_pod.close()


def test_a_pool_makes_the_request_and_the_pod_starts_when_woken(tmp_path):
    """With `run`, the TokenRequest leaves the caller (the host's lock): the containers wait until it is written."""
    jobs, woken = [], []
    requests = Requests([0.0])
    tokens = TokenProjector(requests, tmp_path / "pods", ("127.0.0.1", 6443), clock=lambda: 0.0,
                            run=jobs.append, wake=woken.append)
    runtime = FakeRuntime(ManualClock())
    agent = NodeAgent("n1", runtime, {"cpu": "1"}, tokens=tokens)
    agent.observe(a_pod(), 0.0)
    agent.sync(0.0)
    assert requests.calls == [] and len(jobs) == 1 and "default/p/c" not in runtime._units
    agent.sync(0.0)
    assert len(jobs) == 1  # one request per pod while it is under way
    jobs.pop()()
    assert [p["metadata"]["name"] for p in woken] == ["p"] and requests.calls == [("default", "default", "p", "u1")]
    agent.touch(woken[0])
    agent.sync(0.0)
    assert runtime._units["default/p/c"].spec.env[TOKEN_FILE_ENV].endswith("default_p_u1/token")


def test_a_pod_forgotten_while_its_request_runs_leaves_no_file(tmp_path):
    jobs = []
    tokens = TokenProjector(Requests([0.0]), tmp_path / "pods", ("127.0.0.1", 1), clock=lambda: 0.0, run=jobs.append)
    assert tokens.env(a_pod()) is None
    tokens.forget(a_pod())
    jobs.pop()()
    assert not (tmp_path / "pods" / "default_p_u1").exists() and tokens.projected == {}


SHOW_TOKEN = 'stat -c %a "$BERTH_SERVICE_ACCOUNT_TOKEN_FILE"; cat "$BERTH_SERVICE_ACCOUNT_TOKEN_FILE"; echo; sleep 60'


def test_a_local_clusters_pod_reads_its_projected_token(tmp_path):
    """Process-runtime agents project tokens: the pod's file is 0600 and authenticates as its ServiceAccount."""
    with LocalCluster(state_dir=tmp_path / "state", nodes=1, runtime="process") as cluster:
        admin = KubeClient(cluster.url, credentials=cluster.admin)
        eventually(lambda: admin.list("serviceaccounts", "default")["items"], 30)
        admin.create("pods", {"metadata": {"name": "reader"}, "spec": {"containers": [
            {"name": "c", "image": "sh", "command": ["sh", "-c", SHOW_TOKEN]}]}}, "default")
        def output():
            lines = (cluster.host.logs("default", "reader", None, None, False) or b"").split()
            return lines if len(lines) >= 2 else None
        lines = eventually(output, 30)
        assert lines[0] == b"600"
        as_pod = KubeClient(cluster.url, credentials=Credentials(ca_file=cluster.admin.ca_file,
                                                                 ca_data=cluster.admin.ca_data, token=lines[1].decode()))
        review = as_pod.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
        assert review["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"
        assert review["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"] == ["reader"]
        admin.close(), as_pod.close()
