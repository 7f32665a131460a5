"""How the container runtime speaks to podman: its configuration files, command lines, and readings.

Pure functions and tables, no state: `engine_env(dir)` writes berth's own `containers.conf`
(runc, the ulimits runc needs on this kind of machine, k8s-file logs, cgroupfs) and
`registries.conf` (the local registry at `REGISTRY` is insecure and the one place short names
such as `busybox` resolve to) and returns the environment variables that make podman read them,
so the machine's /etc is never edited; `run_argv` turns a `UnitSpec` into `podman run` flags;
`pull_reason` sorts a failed `podman run`'s message into the kubelet's reasons; `read_k8s_log`
reads a k8s-file log; `oom_killed` and `cgroup_usage` read the kernel's view of a container.
Used by `berth.runtime.container` and by `berth.launch.images` (which pushes the seeded images).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from berth.runtime.base import Mount, UnitResources, UnitSpec, Usage

REGISTRY = "localhost:5000"
LABEL_UNIT, LABEL_RUNTIME, LABEL_GROUP, LABEL_RESTART = "berth.unit", "berth.runtime", "berth.group", "berth.restart"
CONTAINERS_CONF = """# written by berth: the container runtime's podman settings
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
REGISTRIES_CONF = """# written by berth: short names resolve to the local registry, which speaks plain HTTP
unqualified-search-registries = ["{registry}"]
short-name-mode = "permissive"

[[registry]]
location = "{registry}"
insecure = true
"""
PULL_REASONS = (
    ("invalid reference format", "InvalidImageName"),
    ("Trying to pull", "ErrImagePull"),
    ("initializing source", "ErrImagePull"),
    ("short-name", "ErrImagePull"),
    ("image not known", "ErrImagePull"),
    ("unable to pull", "ErrImagePull"),
)
"""A failed `podman run`'s message -> the kubelet's waiting reason (first match wins)."""
STATUS_FORMAT = "{{.NetworkSettings.IPAddress}}|{{.State.Pid}}|{{.Id}}"
"""What `podman inspect` prints after a start: the address, the main process, the container id."""


def default_home() -> Path:
    """berth's per-machine directory (registry storage, engine configuration): $BERTH_HOME or
    ~/.local/share/berth."""
    return Path(os.environ.get("BERTH_HOME") or Path.home() / ".local" / "share" / "berth")


def engine_env(directory: Path | None = None, registry: str = REGISTRY) -> dict[str, str]:
    """Write berth's podman configuration into `directory` (default `<home>/podman`) if it differs,
    and return the variables that point podman at it."""
    directory = Path(directory or default_home() / "podman")
    directory.mkdir(parents=True, exist_ok=True)
    files = {"containers.conf": CONTAINERS_CONF, "registries.conf": REGISTRIES_CONF.format(registry=registry)}
    for name, text in files.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return {"CONTAINERS_CONF": str(directory / "containers.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(directory / "registries.conf")}


def qualify(image: str, registry: str = REGISTRY) -> str:
    """A short reference (`busybox`, `nginx:1.25`, `team/app:v2`) in the local registry; one whose first
    part names a host (has a dot or a port, or is `localhost`) stays as it is.  Done here rather than
    by registries.conf alone because the machine's short-name aliases would send `busybox` elsewhere."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"{registry}/{image}"


def resource_flags(res: UnitResources) -> list[str]:
    """Requests and limits as cgroup settings: memory limit (no swap beyond it), reservation, CPU
    quota (`--cpus`) and shares (1024 per core requested)."""
    flags: list[str] = []
    if res.memory_limit_bytes:
        flags += [f"--memory={res.memory_limit_bytes}b", f"--memory-swap={res.memory_limit_bytes}b"]
    if res.memory_request_bytes:
        flags.append(f"--memory-reservation={res.memory_request_bytes}b")
    if res.cpu_limit_millis:
        flags.append(f"--cpus={res.cpu_limit_millis / 1000:.3f}")
    if res.cpu_request_millis or res.cpu_limit_millis:
        flags.append(f"--cpu-shares={max(2, (res.cpu_request_millis or res.cpu_limit_millis) * 1024 // 1000)}")
    return flags


def mount_flag(mount: Mount) -> str:
    return f"--volume={mount.source}:{mount.target}{':ro' if mount.read_only else ''}"


def run_argv(spec: UnitSpec, container: str, runtime_id: str, log_path: Path, pod: str | None) -> list[str]:
    """`podman run -d` for `spec`: labels (the identity), the log file, limits, mounts, the command."""
    argv = ["podman", "run", "-d", "--pull=missing", f"--name={container}", "--log-driver=k8s-file",
            f"--log-opt=path={log_path}", f"--label={LABEL_UNIT}={spec.name}", f"--label={LABEL_RUNTIME}={runtime_id}",
            f"--label={LABEL_RESTART}={spec.restart.value}", f"--label={LABEL_GROUP}={spec.group}"]
    if pod:
        argv.append(f"--pod={pod}")
    argv += resource_flags(spec.resources) + [mount_flag(m) for m in spec.mounts]
    argv += [f"--env={k}={v}" for k, v in spec.env.items()]
    if spec.workdir:
        argv.append(f"--workdir={spec.workdir}")
    if spec.command:
        argv.append(f"--entrypoint={json.dumps([spec.command[0]])}")
    return argv + ["--", qualify(spec.image)] + list(spec.command[1:])


def pod_argvs(pod: str, runtime_id: str, hostname: str) -> list[list[str]]:
    """Create and start a pod (its infra container holds the network namespace and the address) whose
    containers see `hostname`."""
    return [["podman", "pod", "create", f"--name={pod}", f"--infra-name={pod}-infra", f"--hostname={hostname}",
             f"--label={LABEL_RUNTIME}={runtime_id}"], ["podman", "pod", "start", pod]]


def hostname_of(group: str) -> str:
    """The host name a group's containers see: its middle part (a pod's name in `namespace/name/uid`), as the
    kubelet gives a pod its name, made a valid label of at most 63 characters (the kernel takes at most 64; the
    pod's podman name is longer)."""
    parts = group.split("/")
    name = parts[1] if len(parts) == 3 else group
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower())[:63].strip("-")
    return label or "pod"


def then_inspect(argvs: list[list[str]], target: str, fmt: str = STATUS_FORMAT) -> list[str]:
    """The commands `argvs` one after the other and, when all succeed, `podman inspect --format fmt`
    of `target`, as one child process."""
    steps = [" ".join(map(_quote, argv)) + " >/dev/null" for argv in argvs]
    inspect = " ".join(map(_quote, ["podman", "inspect", f"--format={fmt}", target]))
    return ["/bin/sh", "-c", " && ".join(steps + ["exec " + inspect])]


def pull_reason(message: str) -> str | None:
    """The kubelet's reason for a `podman run` that failed on the image, None for other failures."""
    return next((reason for needle, reason in PULL_REASONS if needle in message), None)


def read_k8s_log(path: Path) -> bytes:
    """The output recorded in a k8s-file log (`<time> <stream> <F|P> <text>` per line)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return b""
    out = bytearray()
    for line in raw.splitlines():
        parts = line.split(b" ", 3)
        if len(parts) == 4:
            out += parts[3] + (b"\n" if parts[2] == b"F" else b"")
        elif len(parts) == 3:
            out += b"\n" if parts[2] == b"F" else b""
    return bytes(out)


def oom_killed(container_id: str, kmsg: str = "/dev/kmsg") -> bool:
    """Whether the kernel log holds an OOM kill in the memory cgroup of `container_id` (the kubelet
    reads the same log; podman 4.3 does not see OOM kills under cgroup v1)."""
    if not container_id:
        return False
    try:
        fd = os.open(kmsg, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                return False
            except OSError:  # a record overwritten while reading (EPIPE): go on with the next
                continue
            if not record:
                return False
            if b"oom-kill:" in record and container_id.encode() in record:
                return True
    finally:
        os.close(fd)


def cgroup_usage(pid: int) -> Usage | None:
    """CPU seconds and working-set memory of the cgroup process `pid` is in (v1 or v2)."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") or [""]:
                paths[controller] = path
    root = Path("/sys/fs/cgroup")
    with contextlib.suppress(OSError, ValueError, KeyError):
        if "memory" in paths:
            memory = root / "memory" / paths["memory"].lstrip("/")
            cpu = int((root / "cpuacct" / paths["cpuacct"].lstrip("/") / "cpuacct.usage").read_text()) / 1e9
            used = int((memory / "memory.usage_in_bytes").read_text())
            return Usage(cpu, max(0, used - _stat(memory / "memory.stat", "total_inactive_file")))
        unified = root / paths[""].lstrip("/")
        cpu = _stat(unified / "cpu.stat", "usage_usec") / 1e6
        used = int((unified / "memory.current").read_text())
        return Usage(cpu, max(0, used - _stat(unified / "memory.stat", "inactive_file")))
    return None


def _stat(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
