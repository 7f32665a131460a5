"""Acceptance: the real kubectl (v1.32) against `berth up` over a real socket, end to end.

`berth up` runs as a child process (the real CLI) with two process-runtime node agents; the test
drives kubectl through apply, get -o wide, logs, scale, a command change with rollout status,
delete (pods removed, processes stopped), get nodes, and describe of an unschedulable pod, then
stops `berth up` with Ctrl-C and starts it again on the same state to see it resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berth.launch.ports import free_port

KUBECTL = shutil.which("kubectl")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-deployment.yaml"
pytestmark = pytest.mark.usefixtures("kubectl_path")  # a missing kubectl fails these tests


class Up:
    """`berth up` as a child process."""

    def __init__(self, state: Path, port: int):
        self.state, self.port = state, port
        self.proc = subprocess.Popen([sys.executable, "-m", "berth.cli.main", "up", "--nodes", "2", "--state-dir",
                                      str(state), "--port", str(port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.output = ""
        deadline = time.monotonic() + 60
        while "Ctrl-C stops everything" not in self.output:
            line = self.proc.stdout.readline()
            assert line or self.proc.poll() is None, f"berth up exited early:\n{self.output}"
            self.output += line
            assert time.monotonic() < deadline, f"berth up did not come up:\n{self.output}"
        self.env = {**os.environ, "KUBECONFIG": str(state / "kubeconfig")}

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        out = subprocess.run([KUBECTL, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out

    def pods(self, selector: str = "app=hello") -> list[dict]:
        return json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]

    def wait(self, what, timeout: float = 60.0, every: float = 0.3):
        deadline = time.monotonic() + timeout
        while True:
            value = what()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what.__doc__ or what}"
            time.sleep(every)

    def ctrl_c(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=60)
        self.output += rest
        return self.proc.returncode


def pids(pods: list[dict]) -> list[int]:
    out = []
    for pod in pods:
        for cs in pod["status"].get("containerStatuses") or []:
            if cs.get("containerID", "").startswith("berth-process://"):
                out.append(int(cs["containerID"].split("://")[1]))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def up(tmp_path):
    cluster = Up(tmp_path / "state", free_port())
    yield cluster
    if cluster.proc.poll() is None:
        cluster.ctrl_c()


def test_kubectl_end_to_end(up, tmp_path):
    nodes = up.kubectl("get", "nodes").stdout
    assert "node-0" in nodes and "node-1" in nodes and nodes.count(" Ready ") == 2

    assert "deployment.apps/hello created" in up.kubectl("apply", "-f", str(EXAMPLE)).stdout
    up.kubectl("rollout", "status", "deployment/hello", "--timeout=90s")
    wide = up.kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    rows = [line.split() for line in wide[1:]]
    assert len(rows) == 3 and all(r[2] == "Running" and r[6] in ("node-0", "node-1") for r in rows), wide

    first = rows[0][0]
    logs = up.wait(lambda: up.kubectl("logs", first).stdout)
    assert f"hello from {first} (v1) #0" in logs

    up.kubectl("scale", "deployment/hello", "--replicas=5")
    up.kubectl("rollout", "status", "deployment/hello", "--timeout=90s")
    assert len([p for p in up.pods() if p["status"]["phase"] == "Running"]) == 5

    old_pids = pids(up.pods())
    assert len(old_pids) == 5 and all(alive(p) for p in old_pids)
    changed = (EXAMPLE.read_text().replace('value: "v1"', 'value: "v2"').replace("replicas: 3", "replicas: 5")
               .replace('print(f"hello from', 'print(f"hi from'))  # a new command line and environment
    (tmp_path / "v2.yaml").write_text(changed)
    up.kubectl("apply", "-f", str(tmp_path / "v2.yaml"))
    status = up.kubectl("rollout", "status", "deployment/hello", "--timeout=120s").stdout
    assert 'deployment "hello" successfully rolled out' in status
    fresh = up.wait(lambda: [p for p in up.pods() if p["status"]["phase"] == "Running"
                             and not p["metadata"].get("deletionTimestamp")] if len(up.pods()) == 5 else [])
    newest = fresh[0]["metadata"]["name"]
    assert f"hi from {newest} (v2)" in up.wait(lambda: up.kubectl("logs", newest).stdout)
    up.wait(lambda: not any(alive(p) for p in old_pids), timeout=30)

    running = pids(up.pods())
    assert running and all(alive(p) for p in running)
    up.kubectl("delete", "deployment", "hello")
    up.wait(lambda: up.pods() == [], timeout=60)
    up.wait(lambda: not any(alive(p) for p in running), timeout=30)

    big = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "too-big"},
           "spec": {"containers": [{"name": "c", "image": "python3", "command": ["sleep", "60"],
                                    "resources": {"requests": {"cpu": "1000"}}}]}}
    (tmp_path / "big.json").write_text(json.dumps(big))
    up.kubectl("apply", "-f", str(tmp_path / "big.json"))
    described = up.wait(lambda: (lambda d: d if "FailedScheduling" in d else "")(
        up.kubectl("describe", "pod", "too-big").stdout))
    assert "0/2 nodes are available: 2 Insufficient cpu." in described


def test_ctrl_c_stops_everything_and_a_restart_resumes(up):
    up.kubectl("apply", "-f", str(EXAMPLE))
    up.kubectl("rollout", "status", "deployment/hello", "--timeout=90s")
    before = pids(up.pods())
    assert up.ctrl_c() == 0
    assert "stopped; state kept" in up.output
    assert not any(alive(p) for p in before), "Ctrl-C stops the pods' processes"

    again = Up(up.state, up.port)
    try:
        assert "hello" in again.kubectl("get", "deployments").stdout
        running = again.wait(lambda: [p for p in again.pods() if p["status"]["phase"] == "Running"
                                      and pids([p]) and all(alive(x) for x in pids([p]))])
        assert len(running) == 3
    finally:
        assert again.ctrl_c() == 0
