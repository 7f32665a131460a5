"""What runs inside a `vm` guest: its /init, the per-unit archive that tells it what to run, and
how the console says how it ended.

A boot image (made by `berth images seed`, see `berth.launch.vmimages`) is a kernel plus a busybox
initramfs whose `/init` is `INIT`.  Each unit adds a small second archive (`unit_archive`) holding
`/berth/cmd.sh`, its command with its environment and working directory; the kernel unpacks the
two archives one after the other (initramfs archives may be concatenated), so a unit's command
never has to fit on the kernel command line.  The init prints `STARTED` on the serial console,
runs the command, prints `EXIT <code>` (`exit_code` finds it) and powers the guest off; an ACPI
power-button press (QMP `system_powerdown`) sends the command SIGTERM through busybox's acpid.
`newc` writes the cpio archives (the kernel's "newc" format).  Called by `berth.runtime.vm` and
`berth.launch.vmimages`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from berth.runtime.base import UnitSpec

STARTED = "berth-guest: started"
EXIT = "berth-guest: exit"
_EXIT_LINE = re.compile(rb"berth-guest: exit (\d+)(?: oom_kill (\d+))?")

INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run
hostname "$(cat /berth/hostname)"
for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
acpid -c /etc/acpi -a /etc/acpid.conf -l /run/acpid.log
G=/sys/fs/cgroup
mount -t cgroup2 cgroup2 $G && echo +memory > $G/cgroup.subtree_control && mkdir $G/unit
cat /berth/memory > $G/unit/memory.max
exec_loop() {{
  exec 3<>/dev/ttyS2
  while read -r id b64 <&3; do
    echo "$b64" | base64 -d > /run/exec.sh
    (echo 0 > $G/unit/cgroup.procs; . /berth/env.sh; exec sh /run/exec.sh) </dev/null >/run/exec.out 2>&1
    rc=$?
    {{ echo "begin $id"; base64 /run/exec.out; echo "end $id $rc"; }} >&3
  done
}}
exec_loop &
mkfifo /run/out
tee /dev/ttyS1 </run/out &
tee=$!
echo "{STARTED}"
(echo 0 > $G/unit/cgroup.procs; exec sh /berth/cmd.sh) </dev/null >/run/out 2>&1 &
echo $! > /run/cmd.pid
wait $!
rc=$?
echo 1 > $G/unit/cgroup.kill
wait $tee
echo "{EXIT} $rc $(grep -m1 oom_kill $G/unit/memory.events)"
sync
poweroff -f
"""
"""The guest's PID 1: mounts, loads the power-button modules, runs the unit, reports, powers off."""

POWER_ACTION = "#!/bin/sh\nkill -TERM $(cat /run/cmd.pid) 2>/dev/null\n"
"""/etc/acpi/power: what the power button does (the init then reports and powers off)."""
ACPID_CONF = "PWRF power\n"
"""busybox acpid's action table: the power button event runs /etc/acpi/power."""


def newc(entries: Iterable[tuple[str, int, bytes | None]]) -> bytes:
    """A cpio archive in the kernel's newc format of (path, mode, data) entries; data None is a directory."""
    out = bytearray()
    for ino, (path, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        kind = 0o040000 if data is None else 0o100000
        body = data or b""
        name = path.lstrip("/").encode() + b"\0"
        fields = (ino, kind | mode if path != "TRAILER!!!" else 0, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name), 0)
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + name
        out += b"\0" * (-len(out) % 4) + body
        out += b"\0" * (-len(out) % 4)
    return bytes(out + b"\0" * (-len(out) % 512))


def env_script(spec: UnitSpec) -> str:
    """/berth/env.sh: the unit's environment and working directory (its command and its execs source it)."""
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(spec.env.items())]
    return "\n".join([*lines, f"cd {shlex.quote(spec.workdir or '/')} || exit 126"]) + "\n"


def unit_archive(spec: UnitSpec, hostname: str, memory_limit: int | None) -> bytes:
    """The archive appended to the image's initramfs for one unit: its command, environment, host
    name and memory limit (enforced by a cgroup inside the guest)."""
    command = "exec " + (shlex.join(spec.command) if spec.command else "sh") + "\n"
    files = {"env.sh": env_script(spec), "cmd.sh": ". /berth/env.sh\n" + command, "hostname": hostname + "\n",
             "memory": f"{memory_limit or 'max'}\n"}
    return newc([("berth", 0o755, None), *((f"berth/{n}", 0o755, text.encode()) for n, text in files.items())])


def exit_code(console: bytes) -> tuple[int, bool] | None:
    """(exit code, whether the unit's cgroup counted an OOM kill) as the guest's init reported them on
    its console (the last report), or None when it reported nothing."""
    found = _EXIT_LINE.findall(console)
    if not found:
        return None
    code, kills = found[-1]
    return int(code), int(kills or 0) > 0
