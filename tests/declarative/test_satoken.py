"""Projected ServiceAccount tokens: the file (0600, in a 0700 directory), the containers' environment, renewal,
removal, opting out, and, over a socket, a projected token that authenticates as the pod's ServiceAccount."""

from __future__ import annotations

import logging
import stat

from cryptography.hazmat.primitives.asymmetric import ec

from berth.declarative.agent.node import NodeAgent
from berth.declarative.agent.satoken import TOKEN_FILE_ENV, TokenProjector, token_requester
from berth.declarative.apiserver import create_app
from berth.declarative.apiserver.access import ALLOW, Chain
from berth.declarative.apiserver.authn import ServiceAccountTokens, TokenFile
from berth.declarative.apiserver.serviceaccounts import Issuer
from berth.declarative.client import ApiError, Credentials, KubeClient
from berth.runtime import ManualClock
from berth.runtime.fake import FakeRuntime
from berth.store import MemoryStore
from tests.apiserver.conftest import serving


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
