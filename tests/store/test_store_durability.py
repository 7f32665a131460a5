"""Durability: `kill -9` of the API server under a load of writes loses no acknowledged write.

Timeline: start the server process on a SQLite file; writer threads create pods and bump counters on leases
as fast as they can, recording every write the server acknowledged (2xx); after a while the server is
killed with SIGKILL mid-load; a new server process opens the same file; every acknowledged pod must be
there with the same uid, and every lease must hold at least its last acknowledged counter.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import httpx

from berth.launch.ports import free_port

PODS = "/api/v1/namespaces/default/pods"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
TOKEN = secrets.token_hex(16)
AUTH = {"authorization": f"Bearer {TOKEN}"}


def token_file(directory: str) -> str:
    """A static token file (0600) naming one administrator, who bears TOKEN."""
    path = os.path.join(directory, "tokens.csv")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'{TOKEN},admin,admin,"system:masters"\n')
    return path


def start_server(db: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "berth.declarative.apiserver", "--store", f"sqlite:///{db}",
                             "--port", str(port), "--insecure", "--token-auth-file",
                             token_file(os.path.dirname(db))], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


def writer(base: str, wid: int, stop: threading.Event, acked_pods: dict, acked_leases: dict) -> None:
    with httpx.Client(base_url=base, timeout=5, headers=AUTH) as c:
        lease = f"lease-{wid}"
        try:
            c.post(LEASES, json={"metadata": {"name": lease}, "spec": {"leaseTransitions": 0}}).raise_for_status()
        except httpx.HTTPError:
            return
        acked_leases[lease] = 0
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = c.post(PODS, json={"metadata": {"name": f"w{wid}-{i}"},
                                       "spec": {"containers": [{"name": "c", "image": "i"}]}})
                if r.status_code == 201:
                    acked_pods[f"w{wid}-{i}"] = r.json()["metadata"]["uid"]
                r = c.patch(f"{LEASES}/{lease}", content=f'{{"spec":{{"leaseTransitions":{i}}}}}',
                            headers={"content-type": "application/merge-patch+json"})
                if r.status_code == 200:
                    acked_leases[lease] = i
            except httpx.HTTPError:
                return


def test_kill_9_under_write_load_loses_no_acknowledged_write(tmp_path):
    db, port = str(tmp_path / "state.db"), free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(db, port)
    stop = threading.Event()
    acked_pods: dict[str, str] = {}
    acked_leases: dict[str, int] = {}
    threads = [threading.Thread(target=writer, args=(base, w, stop, acked_pods, acked_leases)) for w in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked_pods) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: writers are still sending
        proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        if proc.poll() is None:
            proc.kill()
    assert len(acked_pods) >= 400, "the load did not reach 400 acknowledged creates"
    proc = start_server(db, port)
    try:
        with httpx.Client(base_url=base, timeout=30, headers=AUTH) as c:
            items = c.get(PODS).json()["items"]
            found = {p["metadata"]["name"]: p["metadata"]["uid"] for p in items}
            lost = {n for n, uid in acked_pods.items() if found.get(n) != uid}
            assert not lost, f"{len(lost)} acknowledged pods lost after kill -9"
            for lease, counter in acked_leases.items():
                got = c.get(f"{LEASES}/{lease}").json()["spec"]["leaseTransitions"]
                assert got >= counter, f"{lease}: acknowledged {counter}, found {got}"
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"acknowledged creates={len(acked_pods)} lease updates={sum(acked_leases.values())}, all present")
