"""Upstream OpenStack Placement (the `openstack-placement` wheel from PyPI) in its own venv.

`ensure_venv()` creates `<cache>/upstream-placement-16.0.0` once (python -m venv + pip
install) and returns its path; `gabbits_dir(venv)` is where the wheel's functional gabbi
YAML files live (read in place, never copied); `start_server(venv, db_path, port)` runs
upstream's WSGI app (noauth2, SQLite) under a threaded wsgiref server as a subprocess.
Used by the gabbi conformance harness (tests/placement) and `berth bench placement`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

VERSION = "16.0.0"
PACKAGE = f"openstack-placement=={VERSION}"
_SERVE = r'''
import os, sys, socketserver, logging
from wsgiref.simple_server import WSGIServer, WSGIRequestHandler, make_server
logging.disable(logging.CRITICAL)
from placement import wsgi
app = wsgi.init_application()
class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
make_server("127.0.0.1", int(sys.argv[1]), app, server_class=Server, handler_class=Quiet).serve_forever()
'''


def cache_root() -> Path:
    return Path(os.environ.get("BERTH_CACHE", Path.home() / ".cache" / "berth"))


def venv_path() -> Path:
    return cache_root() / f"upstream-placement-{VERSION}"


def ensure_venv() -> Path:
    """The venv with upstream placement installed (created on first use; takes a minute)."""
    venv = venv_path()
    marker = venv / ".berth-installed"
    if marker.exists():
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", PACKAGE], check=True,
                   stdout=subprocess.DEVNULL)
    marker.write_text(PACKAGE + "\n")
    return venv


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def gabbits_dir(venv: Path) -> Path:
    return site_packages(venv) / "placement" / "tests" / "functional" / "gabbits"


def start_server(venv: Path, db_path: Path, port: int) -> subprocess.Popen:
    """Upstream placement on 127.0.0.1:port over a SQLite file; returns once it answers."""
    env = dict(os.environ,
               OS_API__AUTH_STRATEGY="noauth2",
               OS_PLACEMENT_DATABASE__CONNECTION=f"sqlite:///{db_path}",
               OS_PLACEMENT_DATABASE__SYNC_ON_STARTUP="True")
    env.pop("OS_PLACEMENT_CONFIG_DIR", None)
    proc = subprocess.Popen([str(venv / "bin" / "python"), "-c", _SERVE, str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_up(f"http://127.0.0.1:{port}", proc)
    return proc


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise RuntimeError(f"placement server exited with {proc.returncode}: {err}")
        try:
            if httpx.get(url + "/", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"placement server at {url} did not answer within {timeout:.0f} s")
