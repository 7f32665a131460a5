"""`serve(import_string, factory=True, workers=N)` as Placement's `--workers N` uses it: N processes on
one socket, each with the connection guard and the request checks."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time

import httpx

from berth.launch.ports import free_port


def wait_listening(port: int, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise AssertionError("the server did not listen")


def test_placement_with_two_workers_serves_through_the_guard(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "berth.centralised.placement", "--port", str(port),
                             "--db", f"sqlite:///{tmp_path / 'p.db'}", "--workers", "2",
                             "--auth-strategy", "noauth2"], stderr=subprocess.PIPE)
    try:
        wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}/"
        assert all(httpx.get(url, timeout=10).status_code == 200 for _ in range(4))
        assert httpx.get(url, headers={"host": "evil.example"}, timeout=10).status_code == 421
        assert httpx.get(url, headers={"x-big": "a" * (2 << 20)}, timeout=10).status_code == 431
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
