"""Root file systems of the seeded container images, made from this machine's Debian packages.

No external registry is reachable here, so `berth images seed` (see `berth.launch.images`) builds
its images from what Debian installed: `busybox` from busybox-static (one static binary and its
applet links), `python` from python3-minimal and libpython3-stdlib (the interpreter, its standard
library without tests and GUI parts, and the shared libraries `ldd` finds for it and its
extension modules), `nginx` from Debian's nginx (the binary, its libraries, a configuration that
serves one page on port 80 in the foreground).  Every image carries busybox, so `sh -c` works in
all of them.  `ROOTFS` maps an image name to its builder; `write_tar` packs a tree as root-owned.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

BUSYBOX = "/bin/busybox"
NGINX = "/usr/sbin/nginx"
PYTHON = "/usr/bin/python3"
SKIPPED_STDLIB = ("/test/", "/tests/", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
                  "__pycache__", "/usr/share/", "/usr/lib/debug/")
_LDD_PATH = re.compile(r"(/\S+) \(0x")

FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hosts": "127.0.0.1 localhost\n",
}
NGINX_CONF = """user nobody nogroup;
worker_processes 1;
daemon off;
pid /run/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    access_log /dev/stdout;
    server {
        listen 80;
        root /usr/share/nginx/html;
        index index.html;
    }
}
"""
NGINX_PAGE = "<!doctype html><title>Welcome to nginx!</title><h1>Welcome to nginx!</h1>\n"
NGINX_DIRS = ("var/lib/nginx/body", "var/lib/nginx/proxy", "var/lib/nginx/fastcgi", "var/lib/nginx/uwsgi",
              "var/lib/nginx/scgi", "var/log/nginx", "run")


class RootfsError(Exception):
    """A source the image needs is missing from this machine (say which Debian package brings it)."""


def base(root: Path) -> None:
    """The skeleton every image has: busybox with its applet links, /etc basics, empty mount points."""
    if not Path(BUSYBOX).exists():
        raise RootfsError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    for name in ("proc", "sys", "dev", "tmp", "root", "etc", "bin", "sbin", "usr/bin", "usr/sbin", "run", "var"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for rel, text in FILES.items():
        (root / rel).write_text(text)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for rel in applets:
        link = root / rel
        if not link.exists() and not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")


def copy_in(root: Path, paths: Iterable[str]) -> None:
    """Copy host files into the same paths under `root` (symbolic links resolved to the file)."""
    for path in paths:
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        shutil.copy2(os.path.realpath(path), dest)


def libraries(binaries: Iterable[str]) -> set[str]:
    """The shared libraries (and the loader) `ldd` finds for `binaries`, as host paths."""
    found: set[str] = set()
    for binary in binaries:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        found.update(_LDD_PATH.findall(out))
    return found


def with_libraries(root: Path, binaries: list[str]) -> None:
    """Copy `binaries` and every library they load into `root`."""
    copy_in(root, binaries)
    copy_in(root, sorted(libraries(binaries)))  # at the path the loader looks for (the soname's)


def busybox(root: Path) -> None:
    """busybox alone."""
    base(root)


def nginx(root: Path) -> None:
    """Debian's nginx binary, its libraries, one page on port 80, in the foreground."""
    if not Path(NGINX).exists():
        raise RootfsError(f"{NGINX} is missing: install Debian's nginx")
    base(root)
    with_libraries(root, [NGINX])
    for rel in NGINX_DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "etc/nginx").mkdir(parents=True, exist_ok=True)
    (root / "etc/nginx/nginx.conf").write_text(NGINX_CONF)
    mime = Path("/etc/nginx/mime.types")
    (root / "etc/nginx/mime.types").write_text(mime.read_text() if mime.exists() else "types { text/html html; }\n")
    (root / "usr/share/nginx/html").mkdir(parents=True, exist_ok=True)
    (root / "usr/share/nginx/html/index.html").write_text(NGINX_PAGE)


def python_version() -> str:
    """The Debian interpreter's name, e.g. `python3.11`."""
    if not Path(PYTHON).exists():
        raise RootfsError(f"{PYTHON} is missing: install Debian's python3-minimal")
    return Path(os.path.realpath(PYTHON)).name


def package_files(package: str) -> list[str]:
    """The regular files Debian's `package` installed (dpkg -L), without tests and GUI parts."""
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    if out.returncode != 0:
        raise RootfsError(f"Debian's {package} is not installed")
    files = (p for p in out.stdout.splitlines() if os.path.isfile(p) and not os.path.islink(p))
    return [p for p in files if not any(s in p for s in SKIPPED_STDLIB)]


def python(root: Path) -> None:
    """Debian's interpreter, its standard library and the libraries of its extension modules."""
    version = python_version()
    base(root)
    files = [f for pkg in (f"{version}-minimal", f"lib{version}-minimal", f"lib{version}-stdlib")
             for f in package_files(pkg)]
    copy_in(root, files)
    elves = [f"/usr/bin/{version}"] + [f for f in files if f.endswith(".so")]
    with_libraries(root, elves)
    for link in ("usr/bin/python3", "usr/bin/python"):
        (root / link).unlink(missing_ok=True)
        (root / link).symlink_to(version)


ROOTFS: dict[str, Callable[[Path], None]] = {"busybox": busybox, "python": python, "nginx": nginx}
"""Image name -> the function that fills an empty directory with its root file system."""


def write_tar(root: Path, target: Path) -> None:
    """Pack `root` into the tar file `target`, every entry owned by root."""
    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info
    with tarfile.open(target, "w") as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name, filter=owned_by_root)

