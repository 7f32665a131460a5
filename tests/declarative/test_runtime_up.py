"""`berth up --runtime` and a LocalCluster on the container runtime, end to end: images from the seeded local
registry, exit codes, an image that cannot be pulled (Pending, ImagePullBackOff, no second pod in 60 s: every
change to its pods is watched from its creation on, while the other checks run), pod IPs, the projected
ServiceAccount token at the kubelet's path."""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from berth.declarative.client import KubeClient
from berth.launch import images
from berth.launch.declarative import LocalCluster
from tests.conftest import require_program
from tests.declarative.waiting import eventually


def test_up_with_a_runtime_that_is_not_set_up_says_what_is_missing_in_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH without podman
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "up", "--runtime", "container", "--port", "0",
                          "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=60,
                         env={"PATH": str(empty)})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "podman is not installed" in out.stderr and "berth setup container" in out.stderr
    assert not (tmp_path / "state").exists(), "nothing was started"


def deployment(name: str, image: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": name, "image": image}]}}}}


def pods(client: KubeClient, app: str) -> list[dict]:
    return client.list("pods", "default", label_selector=f"app={app}")["items"]


def running_ips(client: KubeClient) -> list[str] | None:
    ready = [p for p in pods(client, "web") if p.get("status", {}).get("phase") == "Running"
             and p["status"].get("podIP", "127.0.0.1") != "127.0.0.1"]
    return [p["status"]["podIP"] for p in ready] if len(ready) == 2 else None


def waiting_reason(pod: dict) -> str | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return (statuses[0].get("state") or {}).get("waiting", {}).get("reason")


QUIET = 60.0
"""Seconds from an unpullable pod's creation during which its ReplicaSet must make no second pod."""


def watch_pods(client: KubeClient, app: str, version: str, seconds: float, give_up: float) -> tuple[list, float]:
    """Every watch event of the app's pods from resourceVersion `version` until `seconds` after the first one
    arrived (`give_up` seconds in all when none comes), and how long it watched after that first one."""
    events: list[dict] = []
    first, end = None, time.monotonic() + give_up
    while (left := end - time.monotonic()) > 0:
        stream = client.watch("pods", version, "default", label_selector=f"app={app}",
                              timeout_seconds=max(1, math.ceil(left)))
        for event in stream:
            version = event["object"]["metadata"]["resourceVersion"]
            if event["type"] != "BOOKMARK":
                events.append(event)
            if first is None and events:  # watch again, to end `seconds` after this first one
                first = time.monotonic()
                end = first + seconds
                break
        stream.close()
    return events, time.monotonic() - (first or time.monotonic())


def check_never_replaced(events: list[dict], watched: float) -> dict:
    """The unpullable pod's watch history: one pod, never deleted, Pending throughout, and once in
    ImagePullBackOff only ever pulling again (ErrImagePull) or backing off.  Returns its last state."""
    assert watched >= QUIET, f"watched only {watched:.1f}s"
    assert {e["object"]["metadata"]["uid"] for e in events} == {events[0]["object"]["metadata"]["uid"]}, \
        "the ReplicaSet made a second pod"
    assert {e["type"] for e in events} <= {"ADDED", "MODIFIED"}, [e["type"] for e in events]
    assert all((e["object"].get("status") or {}).get("phase", "Pending") == "Pending" for e in events)
    reasons = [waiting_reason(e["object"]) for e in events]
    assert "ImagePullBackOff" in reasons, reasons
    assert set(reasons[reasons.index("ImagePullBackOff"):]) <= {"ErrImagePull", "ImagePullBackOff"}, reasons
    return events[-1]["object"]


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def token_subject(log: bytes) -> str:
    """The `sub` of the JWT on the log's first line (three dot-separated base64url parts), checked as such."""
    parts = log.decode().splitlines()[0].split(".")
    assert len(parts) == 3 and all(parts), log
    for part in parts:
        base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # raises unless base64url
    return json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))["sub"]


def test_a_container_cluster_serves_nginx_runs_busybox_and_keeps_an_unpullable_pod_pending(tmp_path):
    require_program("podman", "Debian's podman (berth setup container)")
    images.start_registry()
    images.seed()
    with LocalCluster(state_dir=tmp_path / "state", nodes=2, runtime="container") as cluster:
        admin = KubeClient(cluster.url, credentials=cluster.admin)
        eventually(lambda: admin.list("serviceaccounts", "default")["items"], 30)
        watcher, pool = KubeClient(cluster.url, credentials=cluster.admin), ThreadPoolExecutor(1)
        history = pool.submit(watch_pods, watcher, "missing", admin.list("pods", "default")["resourceVersion"],
                              QUIET, QUIET + 30)
        admin.create("deployments", deployment("missing", "nosuch:1", 1), "default")
        admin.create("deployments", deployment("web", "nginx", 2), "default")
        admin.create("pods", {"metadata": {"name": "exit3"}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hi; exit 3"]}]}}, "default")
        admin.create("pods", {"metadata": {"name": "token"}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "command": [
                "sh", "-c", f"cat {TOKEN_PATH} && echo && echo $BERTH_SERVICE_ACCOUNT_TOKEN_FILE"]}]}}, "default")

        ips = eventually(lambda: running_ips(admin), 60, 0.5)
        assert len(set(ips)) == 2 and all(ip.startswith("10.") for ip in ips), ips
        for ip in ips:
            assert httpx.get(f"http://{ip}/", timeout=5).status_code == 200

        done = eventually(lambda: (p := admin.get("pods", "exit3", "default"))["status"].get("phase") == "Failed" and p,
                          60, 0.5)
        terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
        assert cluster.host.logs("default", "exit3", None, None, False) == b"hi\n"

        eventually(lambda: admin.get("pods", "token", "default")["status"].get("phase") == "Succeeded", 60, 0.5)
        log = cluster.host.logs("default", "token", None, None, False)
        assert token_subject(log) == "system:serviceaccount:default:default"
        assert log.decode().splitlines()[1] == TOKEN_PATH, "the env names the file inside the container"

        last = check_never_replaced(*history.result(timeout=QUIET + 60))  # the ReplicaSet never replaces it
        pool.shutdown()
        [pod] = pods(admin, "missing")
        assert pod["metadata"]["uid"] == last["metadata"]["uid"] and pod["status"]["phase"] == "Pending"
        assert waiting_reason(pod) in ("ErrImagePull", "ImagePullBackOff")
        reasons = {e["reason"] for e in admin.list("events", "default")["items"]
                   if e["involvedObject"]["name"] == pod["metadata"]["name"]}
        assert {"Pulling", "Failed", "BackOff"} <= reasons, reasons
        admin.close()
        watcher.close()
