"""RBAC end to end with the real kubectl against the API server as `berth up` runs it (its own process, TLS,
the cluster's CA, the node and RBAC authorizers, the default policy): a `view` user reads but may not delete
(upstream's 403 wording), and `kubectl auth can-i` answers for a user bound to `edit` in one namespace.
Each user's kubeconfig holds a client certificate signed by the cluster's CA, as `berth kube user` makes."""

from __future__ import annotations

import os
import subprocess

import pytest

from berth.launch.pki import user_kubeconfig

from tests.apiserver.conftest import pod
from tests.apiserver.secured import admin_http, api_server

G = "rbac.authorization.k8s.io"
BINDINGS = "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings"


def bind(http, ns: str, role: str, user: str) -> None:
    body = {"metadata": {"name": f"{user}-{role}"}, "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "User", "apiGroup": G, "name": user}]}
    http.post(BINDINGS % ns, json=body).raise_for_status()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rbac")
    with api_server() as cluster, admin_http(cluster) as http:
        http.post("/api/v1/namespaces", json={"metadata": {"name": "team"}}).raise_for_status()
        http.post("/api/v1/namespaces/default/pods", json=pod("p")).raise_for_status()
        bind(http, "default", "view", "vic")
        bind(http, "team", "edit", "ed")
        configs = {user: user_kubeconfig(cluster.home, user, groups, cluster.url, folder / f"{user}.yaml")
                   for user, groups in (("vic", ()), ("ed", ("dev",)))}
        yield configs, folder


@pytest.fixture
def kubectl(server, kubectl_path):
    configs, folder = server

    def run(user: str, *args: str) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
        return subprocess.run([kubectl_path, "--kubeconfig", str(configs[user]), *args],
                              capture_output=True, text=True, env=env, timeout=60)
    return run


def test_view_user_gets_but_may_not_delete(kubectl):
    got = kubectl("vic", "get", "pod", "p", "-o", "name")
    assert got.returncode == 0 and got.stdout.strip() == "pod/p", got.stderr
    gone = kubectl("vic", "delete", "pod", "p")
    assert gone.returncode != 0
    assert ('Error from server (Forbidden): pods "p" is forbidden: User "vic" cannot delete resource "pods" in API'
            ' group "" in the namespace "default"') in gone.stderr
    assert kubectl("vic", "get", "pod", "p", "-o", "name").returncode == 0  # still there
    assert "cannot list resource" in kubectl("vic", "get", "pods", "-n", "team").stderr


CAN_I = [  # kubectl auth can-i arguments for user 'ed' (edit in 'team'), and the answer
    (("get", "pods", "-n", "team"), "yes"),
    (("delete", "pods", "-n", "team"), "yes"),
    (("create", "deployments.apps", "-n", "team"), "yes"),
    (("patch", "deployments", "--subresource=scale", "-n", "team"), "yes"),
    (("get", "pods", "--subresource=log", "-n", "team"), "yes"),
    (("get", "pods", "-n", "default"), "no"),
    (("create", "rolebindings", "-n", "team"), "no"),
    (("list", "nodes"), "no"),
    (("delete", "namespaces/team"), "no"),
    (("get", "/healthz"), "yes"),
]


@pytest.mark.parametrize("args,answer", CAN_I)
def test_auth_can_i_for_an_edit_user(kubectl, args, answer):
    out = kubectl("ed", "auth", "can-i", *args)
    assert out.stdout.strip() == answer, out.stderr
    assert out.returncode == (0 if answer == "yes" else 1)


def test_auth_can_i_list_shows_the_namespace_rules(kubectl):
    out = kubectl("ed", "auth", "can-i", "--list", "-n", "team")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:] if line.strip()}
    assert "pods" in rows and "delete" in rows["pods"]
    assert "selfsubjectaccessreviews.authorization.k8s.io" in rows
    assert "rolebindings.rbac.authorization.k8s.io" not in rows
