"""Debian packages a runtime needs: which are missing, and installing them with apt-get.

`berth setup container|vm` calls these (as root: apt-get installs system-wide) and says what it
installs before it does.  Services that a package would start are left to berth, which starts what
it needs itself (the registry, for instance).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def missing_packages(names: Iterable[str]) -> list[str]:
    """The packages of `names` that dpkg does not list as installed."""
    return [name for name in names if not installed(name)]


def installed(name: str) -> bool:
    done = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", name], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == "installed"


def apt_install(names: list[str]) -> None:
    """`apt-get update` then `apt-get install` of `names` (no recommends); raises RuntimeError with
    apt-get's last line when it fails, PermissionError when not root."""
    if not names:
        return
    if os.geteuid() != 0:
        raise PermissionError(f"installing {' '.join(names)} needs root: run as root or install them by hand")
    env = os.environ | APT_ENV
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", *names]):
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [str(done.returncode)]
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {tail[0]}")
