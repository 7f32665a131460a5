"""The local image registry and the seeded images the container runtime runs.

This machine reaches no container registry, so images come from here: `start_registry` runs
Debian's `docker-registry` on 127.0.0.1:5000 (its configuration, storage and log in
`<home>/registry`, home being $BERTH_HOME or ~/.local/share/berth), and `seed` builds the images of
`SEEDS` from Debian's packages (root file systems by `berth.launch.rootfs`), imports each tar with
`podman import`, tags it `localhost:5000/<name>:<tag>` and pushes it; an image the registry
already holds is left alone, so seeding twice is cheap.  podman reads berth's own
registries.conf (`berth.runtime.podman.engine_env`): short names (`busybox`, `nginx:1.25`) resolve
to the local registry, which is insecure (plain HTTP on loopback).  `missing(runtime)` is the
one-line check `berth up` makes; `PACKAGES` is what `berth setup container` installs.  The CLI
(`berth images seed`, `berth setup container`) prints.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from berth.launch import rootfs
from berth.runtime import podman

HOST, PORT = "127.0.0.1", 5000
PACKAGES = ("podman", "runc", "conmon", "catatonit", "containernetworking-plugins", "docker-registry",
            "busybox-static", "nginx", "python3")
"""The Debian packages the container runtime and its seeded images need."""
PROGRAMS = {"podman": "podman", "runc": "runc", "conmon": "conmon", "catatonit": "catatonit",
            "docker-registry": "docker-registry"}
"""Program -> the Debian package that brings it (the check `berth up --runtime container` makes)."""


@dataclass(frozen=True)
class Seed:
    """One seeded image: its name, its tags, its root file system, and what it runs by default."""

    name: str
    tags: tuple[str, ...]
    cmd: tuple[str, ...]


SEEDS = (
    Seed("busybox", ("latest", "1.36"), ("sh",)),
    Seed("python", ("3", "latest"), ("python3",)),
    Seed("nginx", ("latest", "1.25"), ("/usr/sbin/nginx",)),
)
REGISTRY_CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


@dataclass(frozen=True)
class Seeded:
    """What `seed` did with one image reference: `built` (and pushed) or `present` already."""

    ref: str
    outcome: str
    seconds: float


def missing(runtime: str) -> str | None:
    """One line naming what `runtime` lacks on this machine and the command that fixes it, or None."""
    if runtime != "container":
        return None
    for program, package in PROGRAMS.items():
        if shutil.which(program) is None:
            return f"{program} is not installed (Debian's {package}): run `berth setup container`"
    if not Path("/usr/lib/cni/bridge").exists():
        return "the CNI bridge plugin is not installed: run `berth setup container`"
    return None


def registry_running(host: str = HOST, port: int = PORT) -> bool:
    """Whether a registry answers the OCI distribution API's base endpoint at host:port."""
    return _get(host, port, "/v2/", "HEAD") == 200


def start_registry(home: Path | None = None, host: str = HOST, port: int = PORT, timeout: float = 10.0) -> bool:
    """Start docker-registry (detached, it outlives this process) unless one answers; True when
    this call started it.  Raises RuntimeError if it does not answer within `timeout` seconds."""
    if registry_running(host, port):
        return False
    where = Path(home or podman.default_home()) / "registry"
    (where / "data").mkdir(parents=True, exist_ok=True)
    config = where / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(data=where / "data", host=host, port=port))
    with open(where / "registry.log", "ab") as log:
        subprocess.Popen(["docker-registry", "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry_running(host, port):
            return True
        time.sleep(0.05)
    raise RuntimeError(f"the registry did not answer on {host}:{port}; see {where / 'registry.log'}")


def has_image(name: str, tag: str, host: str = HOST, port: int = PORT) -> bool:
    """Whether the registry holds `name:tag`."""
    return _get(host, port, f"/v2/{name}/manifests/{tag}", "HEAD") == 200


def seed(force: bool = False, progress: Callable[[str], None] | None = None,
         engine_dir: Path | None = None) -> list[Seeded]:
    """Build and push every image of `SEEDS` the registry lacks (all of them with `force`)."""
    env = _env(engine_dir)
    done: list[Seeded] = []
    for image in SEEDS:
        started = time.monotonic()
        refs = [f"{podman.REGISTRY}/{image.name}:{tag}" for tag in image.tags]
        if not force and all(has_image(image.name, tag) for tag in image.tags):
            done += [Seeded(ref, "present", 0.0) for ref in refs]
            continue
        if progress:
            progress(f"building {image.name}")
        build(image, refs, env)
        done += [Seeded(ref, "built", time.monotonic() - started) for ref in refs]
    return done


def build(image: Seed, refs: list[str], env: dict[str, str]) -> None:
    """Make `image`'s root file system, import it as `refs[0]`, tag the others, push them all."""
    with tempfile.TemporaryDirectory(prefix=f"berth-image-{image.name}-") as tmp:
        root, tar = Path(tmp) / "root", Path(tmp) / "rootfs.tar"
        root.mkdir()
        rootfs.ROOTFS[image.name](root)
        rootfs.write_tar(root, tar)
        changes = [f"--change=CMD {json.dumps(list(image.cmd))}", "--change=ENV PATH=/usr/local/sbin:/usr/local/bin:"
                   "/usr/sbin:/usr/bin:/sbin:/bin", "--change=WORKDIR /"]
        _podman(["import", *changes, str(tar), refs[0]], env)
    for ref in refs[1:]:
        _podman(["tag", refs[0], ref], env)
    for ref in refs:
        push(ref, env)


def push(ref: str, env: dict[str, str] | None = None) -> None:
    """Push a local image to the registry (the same step for a user's own image: `podman push`)."""
    _podman(["push", "--quiet", ref], env or _env(None))


def _env(engine_dir: Path | None) -> dict[str, str]:
    return os.environ | podman.engine_env(engine_dir)


def _podman(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(["podman", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"podman {args[0]} failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
    return done.stdout


def _get(host: str, port: int, path: str, method: str = "GET") -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request(method, path, headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                                            "application/vnd.docker.distribution.manifest.v2+json"})
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()

