"""QEMU for the `vm` runtime: the command line of one guest, its QMP socket, its exec channel, and
the identity of its process.

`argv` builds a `qemu-system-x86_64` command for a kernel + initramfs guest on the `pc` machine
with no default devices: serial port 0 (ttyS0, the console) to `console.log`, serial 1 (ttyS1,
the unit's output) to `output.log`, serial 2 (ttyS2) to the `exec.sock` unix socket the guest's
exec loop reads, QMP on `qmp.sock`; it daemonises with a pidfile once the machine is built and
exits when the guest powers off (`-no-reboot`: a reboot or a panic ends it too).  `ACCELS` are
the accelerators (`kvm` with the host's CPU model, or `tcg`, QEMU's own emulator).  `qmp` runs
one QMP command (connect, handshake, command, close; a short timeout), `exec_in` one command
through the exec channel.  `Identity` (pid + the kernel's start time of that pid) tells a live
QEMU from a reused pid, across restarts of the runtime.  Used by `berth.runtime.vm`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROGRAM = "qemu-system-x86_64"
ACCELS = {"kvm": ("-accel", "kvm", "-cpu", "host"), "tcg": ("-accel", "tcg")}
KERNEL_ARGS = "console=ttyS0 quiet panic=-1"


def argv(kernel: Path, initrd: Path, unit_dir: Path, *, vcpus: int, memory_mib: int, accel: str,
         name: str) -> list[str]:
    """The QEMU command line of one guest whose files live in `unit_dir`."""
    return [PROGRAM, "-name", name, "-machine", "pc", *ACCELS[accel], "-smp", str(vcpus), "-m", str(memory_mib),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", KERNEL_ARGS,
            "-serial", f"file:{unit_dir / 'console.log'}", "-serial", f"file:{unit_dir / 'output.log'}",
            "-chardev", f"socket,id=exec,path={sock_path(unit_dir, 'exec.sock')},server=on,wait=off",
            "-serial", "chardev:exec",
            "-qmp", f"unix:{sock_path(unit_dir, 'qmp.sock')},server=on,wait=off",
            "-daemonize", "-pidfile", str(unit_dir / "qemu.pid")]



SOCKET_PATH_MAX = 100
"""A unix socket's path must fit in 108 bytes (sun_path); QEMU refuses a longer one."""


def sock_path(unit_dir: Path, name: str) -> Path:
    """Where a guest's socket `name` lives: in `unit_dir` when the path is short enough, else in a short
    directory of its own under the system's temporary directory, named by a digest of `unit_dir` (so a
    restarted agent finds it again) and made 0700."""
    path = unit_dir / name
    if len(str(path)) <= SOCKET_PATH_MAX:
        return path
    short = Path(tempfile.gettempdir()) / f"berth-vm-{hashlib.sha256(str(unit_dir).encode()).hexdigest()[:16]}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short / name

@dataclass(frozen=True)
class Identity:
    """A QEMU process: its pid and its start time in clock ticks since boot (field 22 of /proc/pid/stat)."""

    pid: int
    start: int

    @classmethod
    def of(cls, pid: int) -> Identity | None:
        start = start_ticks(pid)
        return cls(pid, start) if start is not None else None

    def alive(self) -> bool:
        """True while this very process runs (a zombie or a reused pid is not it)."""
        return start_ticks(self.pid) == self.start and not _zombie(self.pid)

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "start": self.start})

    @classmethod
    def from_json(cls, text: str) -> Identity:
        data = json.loads(text)
        return cls(int(data["pid"]), int(data["start"]))


def start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def proc_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of a process, from /proc; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0, 0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, pages * os.sysconf("SC_PAGE_SIZE")


def qmp(sock: Path, command: str, timeout: float = 0.5) -> dict | None:
    """Run one QMP command; its `return` value (a dict, {} for none), or None when QEMU does not answer."""
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            reader = conn.makefile("rb")
            reader.readline()  # the greeting
            for execute in ("qmp_capabilities", command):
                conn.sendall(json.dumps({"execute": execute}).encode() + b"\n")
                reply = _reply(reader)
            return reply.get("return") if isinstance(reply.get("return"), dict) else {}
    except (OSError, ValueError):
        return None


def _reply(reader) -> dict:
    """The next reply on a QMP stream (events, which carry no `return` or `error`, are skipped)."""
    while True:
        line = reader.readline()
        if not line:
            raise ValueError("QMP closed")
        message = json.loads(line)
        if "return" in message or "error" in message:
            return message


def exec_in(sock: Path, script: str, timeout: float) -> tuple[int, bytes] | None:
    """Run `script` with the guest's sh through its exec channel: (exit code, output), or None when the
    channel does not answer within `timeout` seconds."""
    tag = secrets.token_hex(4)
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(f"{tag} {base64.b64encode(script.encode()).decode()}\n".encode())
            return _exec_reply(conn.makefile("rb"), tag, conn, deadline)
    except (OSError, ValueError):
        return None


def _exec_reply(reader, tag: str, conn: socket.socket, deadline: float) -> tuple[int, bytes] | None:
    lines: list[bytes] | None = None
    while time.monotonic() < deadline:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        line = reader.readline().strip()
        if line == f"begin {tag}".encode():
            lines = []
        elif line.startswith(f"end {tag} ".encode()) and lines is not None:
            return int(line.split()[2]), base64.b64decode(b"".join(lines))
        elif lines is not None:
            lines.append(line)
    return None
