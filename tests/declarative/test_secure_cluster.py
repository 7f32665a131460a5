"""A `LocalCluster` is secure from its first start: TLS, every part with its own credential, 0600 secrets.

One cluster (two fake-runtime agents, state in a temporary directory) serves the module: its files'
modes, the real kubectl over TLS with the administrator's kubeconfig, `berth kube user` credentials
(`kubectl auth whoami`, a 403 until RBAC grants, then `view`'s reach), plain HTTP refused, anonymous
requests refused, each agent registered under its own node identity, and no secret in the server's log.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from berth.declarative.client import ApiError, Credentials, KubeClient
from berth.launch.declarative import LocalCluster
from berth.launch.pki import read_tokens

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
pytestmark = pytest.mark.usefixtures("kubectl_path")  # a missing kubectl fails these tests
SECRETS = ["pki/ca.key", "pki/apiserver.key", "pki/admin.key", "pki/kube-scheduler.key",
           "pki/kube-controller-manager.key", "pki/service-account.key", "pki/kubelet-token", "tokens.csv",
           "kubeconfig", "kubeconfigs/kube-scheduler.yaml", "kubeconfigs/kube-controller-manager.yaml"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("secure") / "state"
    c = LocalCluster(state_dir=state, nodes=2, runtime="fake", start_scheduler=False).start()
    yield c
    c.stop()


VIEW_BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-view, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: dev}]
"""


def kubectl(kubeconfig, *args, check=True, stdin=None):
    out = subprocess.run([KUBECTL, *args], env={"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin",
                                                "HOME": str(kubeconfig.parent)},
                         capture_output=True, text=True, timeout=60, input=stdin)
    assert not check or out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out


def test_every_secret_is_0600_and_the_pki_0700(cluster):
    home = cluster.state_dir
    modes = {name: oct((home / name).stat().st_mode & 0o777) for name in SECRETS}
    assert set(modes.values()) == {"0o600"}, modes
    assert (home / "pki").stat().st_mode & 0o777 == 0o700
    assert cluster.url.startswith("https://127.0.0.1:")


def test_kubectl_works_over_tls_with_the_admin_kubeconfig(cluster):
    nodes = kubectl(cluster.kubeconfig, "get", "nodes", "-o", "name").stdout.split()
    assert nodes == ["node/node-0", "node/node-1"]
    whoami = kubectl(cluster.kubeconfig, "auth", "whoami").stdout
    assert "berth-admin" in whoami and "system:masters" in whoami


def test_anonymous_and_plain_http_requests_are_refused(cluster):
    anonymous = httpx.get(f"{cluster.url}/api/v1/pods", verify=ssl.create_default_context(
        cafile=str(cluster.state_dir / "pki" / "ca.crt")))
    assert anonymous.status_code == 401
    try:
        plain = httpx.get(cluster.url.replace("https://", "http://") + "/api/v1/pods", timeout=5)
    except httpx.TransportError:
        pass  # the TLS server drops a plain-HTTP connection
    else:
        assert plain.status_code == 400 and b"items" not in plain.content  # or at most says "bad request"
    unverified = KubeClient(cluster.url, credentials=Credentials())  # the system's CAs do not know this server
    with pytest.raises(httpx.TransportError):
        unverified.get("nodes", "node-0")
    unverified.close()


def test_each_agent_registered_under_its_own_node_identity(cluster):
    tokens = read_tokens(cluster.state_dir / "tokens.csv")
    assert sorted(tokens) == ["system:node:node-0", "system:node:node-1"]
    node0 = KubeClient(cluster.url, credentials=Credentials(ca_file=cluster.admin.ca_file,
                                                            token=tokens["system:node:node-0"]))
    try:
        node0.patch("nodes", "node-0", {"metadata": {"labels": {"checked": "yes"}}})
        with pytest.raises(ApiError) as err:
            node0.patch("nodes", "node-1", {"metadata": {"labels": {"checked": "yes"}}})
        assert err.value.code == 403
    finally:
        node0.close()


def test_a_user_from_berth_kube_user_is_who_it_says_and_only_what_rbac_grants(cluster, tmp_path):
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "kube", "user", "alice", "--group", "dev",
                          "--state-dir", str(cluster.state_dir), "--out", str(tmp_path / "alice.kc")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    alice = tmp_path / "alice.kc"
    whoami = kubectl(alice, "auth", "whoami").stdout
    assert "alice" in whoami and "dev" in whoami
    denied = kubectl(alice, "get", "pods", check=False)
    assert denied.returncode != 0 and 'User "alice" cannot list resource "pods"' in denied.stderr
    kubectl(cluster.kubeconfig, "apply", "-f", "-", stdin=VIEW_BINDING)
    assert kubectl(alice, "get", "pods").returncode == 0
    assert kubectl(alice, "auth", "can-i", "delete", "pods", check=False).stdout.strip() == "no"


def test_no_secret_reaches_the_api_servers_log(cluster):
    log = (cluster.state_dir / "apiserver.log").read_text()
    tokens = read_tokens(cluster.state_dir / "tokens.csv").values()
    assert "PRIVATE KEY" not in log and not any(t in log for t in tokens)
    assert (cluster.state_dir / "pki" / "kubelet-token").read_text().strip() not in log


def test_insecure_serves_plain_http_with_tokens_and_still_authenticates(tmp_path):
    with LocalCluster(nodes=1, runtime="fake", controllers=False, start_scheduler=False, insecure=True) as c:
        assert c.url.startswith("http://") and c.admin.token and c.admin.ca_file is None
        assert httpx.get(f"{c.url}/api/v1/pods").status_code == 401
        config = k8s.Configuration()  # the official client sends the kubeconfig's token over plain HTTP
        k8s_config.load_kube_config(config_file=str(c.kubeconfig), client_configuration=config)
        with k8s.ApiClient(config) as api:
            assert [n.metadata.name for n in k8s.CoreV1Api(api).list_node().items] == ["node-0"]
        # kubectl (client-go) sends no credentials to a plain-HTTP server, so it is anonymous there
        assert "provide credentials" in kubectl(c.kubeconfig, "get", "nodes", check=False).stderr
        home = c.home
    assert not home.exists()  # the temporary home of a cluster without a state directory goes at stop


def test_the_api_server_refuses_plain_http_without_insecure():
    out = subprocess.run([sys.executable, "-m", "berth.declarative.apiserver", "--store", "memory://", "--port",
                          "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--insecure" in out.stderr


POD = b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "%s"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}'


def test_a_pod_create_a_web_page_could_send_is_refused_and_creates_nothing(cluster):
    """What a browser page can send across origins without a preflight (a body with no Content-Type, or
    text/plain, and no credentials), or through a DNS name rebound to 127.0.0.1 (a foreign Host), never
    reaches the API: 415 and 421, and no pod exists afterwards."""
    url = f"{cluster.url}/api/v1/namespaces/default/pods"
    ca = ssl.create_default_context(cafile=str(cluster.state_dir / "pki" / "ca.crt"))
    admin = Credentials.from_kubeconfig(cluster.kubeconfig).ssl_context()
    attempts = [
        (ca, {}, POD % b"no-type"),                                          # a Blob: no Content-Type
        (ca, {"Content-Type": "text/plain"}, POD % b"plain-text"),           # a "simple request"
        (admin, {"Content-Type": "text/plain"}, POD % b"plain-text-admin"),  # even with the admin's certificate
        (admin, {"Content-Type": "application/json", "Host": "attacker.example:6443"}, POD % b"rebound"),
    ]
    codes = []
    for context, headers, body in attempts:
        with httpx.Client(verify=context) as http:
            codes.append(http.post(url, content=body, headers=headers).status_code)
    assert codes == [415, 415, 415, 421]
    names = kubectl(cluster.kubeconfig, "get", "pods", "-o", "name").stdout.split()
    assert not [n for n in names if n.split("/")[1] in ("no-type", "plain-text", "plain-text-admin", "rebound")]
