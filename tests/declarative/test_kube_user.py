"""`berth kube user`: a client certificate signed by the cluster's CA, in a 0600 kubeconfig; clear errors.

These run the real CLI against a state directory prepared as `berth up` prepares it (no server needed);
`test_secure_cluster.py` uses the kubeconfig against a running cluster with kubectl.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from berth.launch.identities import prepare


def berth(*args):
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def state(tmp_path):
    prepare(tmp_path, "https://127.0.0.1:6443", ["node-0"])
    return tmp_path


def test_user_kubeconfig_holds_a_certificate_of_the_user_and_groups(state):
    out = berth("kube", "user", "alice", "--group", "dev", "--group", "ops", "--state-dir", str(state))
    assert out.returncode == 0, out.stderr
    path = state / "users" / "alice.yaml"
    assert str(path) in out.stdout and f"KUBECONFIG={path} kubectl auth whoami" in out.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    user = config["users"][0]["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "ops"]
    ca = x509.load_pem_x509_certificate((state / "pki" / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert "PRIVATE KEY" not in out.stdout


def test_json_output_names_the_file_and_never_the_key(state, tmp_path):
    out = berth("kube", "user", "bob", "--state-dir", str(state), "--out", str(tmp_path / "bob.kc"), "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer == {"kubeconfig": str(tmp_path / "bob.kc"), "user": "bob", "groups": [],
                      "server": "https://127.0.0.1:6443"}
    key = yaml.safe_load((tmp_path / "bob.kc").read_text())["users"][0]["user"]["client-key-data"]
    assert key not in out.stdout and "PRIVATE" not in out.stdout


@pytest.mark.parametrize("args, message", [
    (["kube", "user", "bad name"], "NAME: 'bad name' is not a usable name"),
    (["kube", "user", "carol", "--group", "a,b"], "--group: 'a,b' is not a usable name"),
])
def test_bad_names_are_one_line_errors(state, args, message):
    out = berth(*args, "--state-dir", str(state))
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_no_ca_in_the_state_dir_is_a_clear_error(tmp_path):
    out = berth("kube", "user", "alice", "--state-dir", str(tmp_path))
    assert out.returncode == 2 and "no cluster CA in" in out.stderr and "berth up" in out.stderr


def test_a_plain_http_cluster_cannot_take_a_certificate(tmp_path):
    prepare(tmp_path, "http://127.0.0.1:6443", ["node-0"], insecure=True)
    out = berth("kube", "user", "alice", "--state-dir", str(tmp_path))
    assert out.returncode == 2 and "plain HTTP" in out.stderr
