"""`berth bench runtime --runtime vm`: create-to-running latency of servers as QEMU guests, berth beside bare QEMU.

"Running" is the same on both sides: the guest's init printed its start marker (`berth-guest: started`,
`berth.runtime.vmguest.STARTED`) on the serial console, i.e. the kernel booted and the server's command
runs.  Both sides start `count` guests of the seeded `busybox` boot image running `sleep`, 1 vCPU and
128 MiB each, all at once, in the same run (bare QEMU first):

- **bare engine**: `qemu-system-x86_64` with the command line the vm runtime builds (`berth.runtime.qemu.argv`
  with the same per-unit initramfs), started directly; latency from its launch to the marker in its console
  file (polled every 50 ms).
- **berth**: a `CentralisedPlane` on this machine (Placement, compute API, scheduler, conductor, `agents`
  compute agents on the vm runtime); each server is POSTed to the compute API (8 at a time) and its latency
  runs from its POST to the first poll (every 50 ms) that sees both the marker in its guest's console file
  (found through its QEMU's command line, read locally as on the bare side) and the server `ACTIVE` in
  `GET /servers/detail` (asked only once a booted guest is not yet known ACTIVE, so the polling adds next
  to no load to the plane) -- scheduling, Placement claims, the conductor, the agent's spawn and the
  guest's boot included.

Called by `berth.sim.runtimebench.bench_runtime`; returns its `RuntimeBench`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from berth.launch import vmimages
from berth.launch.centralised import CentralisedPlane, PlaneSpec
from berth.runtime import UnitResources, UnitSpec, qemu, vmguest
from berth.runtime.vm import cached_accel, guest_size, images_dir
from berth.sim.runtimebench import TIMEOUT, RuntimeBench, Side

COMMAND = ("sleep", "3600")
VCPUS, RAM_MIB = 1, 128
MARKER = vmguest.STARTED.encode()
POLL = 0.05
SETTLE = 3.0
"""Seconds the plane idles once up before the clock starts: its services' own start-up work (registering,
first reports to Placement) is not the servers' latency."""


def bench_vm(count: int, agents: int, progress=lambda step: None) -> RuntimeBench:
    if problem := vmimages.missing("vm"):
        raise RuntimeError(problem)
    accel = vmimages.probe()["accel"]
    previous = signal.signal(signal.SIGTERM, _terminated)  # a SIGTERM still removes the guests and the plane
    try:
        progress(f"bare QEMU ({accel}): {count} guests")
        bare = bare_qemu(count, accel)
        progress(f"berth: {count} servers on {agents} compute agents")
        return RuntimeBench("vm", count, agents, bare, through_plane(count, agents))
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(_signum, _frame) -> None:
    raise SystemExit(143)


def _spec(i: int) -> UnitSpec:
    res = UnitResources(VCPUS * 1000, VCPUS * 1000, RAM_MIB * 2**20, RAM_MIB * 2**20)
    return UnitSpec(f"bench-{i}", COMMAND, image="busybox", resources=res)


def bare_argv(spec: UnitSpec, unit_dir: Path, accel: str) -> list[str]:
    """The vm runtime's QEMU command line and per-unit initramfs for `spec`, written under `unit_dir`."""
    image = images_dir() / (spec.image or "busybox")
    unit_dir.mkdir(parents=True)
    initrd = (image / "initrd.gz").read_bytes()
    initrd += b"\0" * (-len(initrd) % 4) + vmguest.unit_archive(spec, spec.name, spec.resources.memory_limit_bytes)
    (unit_dir / "initrd").write_bytes(initrd)
    vcpus, mib = guest_size(spec.resources)
    return qemu.argv(image / "vmlinux", unit_dir / "initrd", unit_dir, vcpus=vcpus, memory_mib=mib, accel=accel,
                     name=f"bench-{unit_dir.name}")


def _started(console: Path) -> bool:
    try:
        return MARKER in console.read_bytes()
    except OSError:
        return False


def bare_qemu(count: int, accel: str | None = None) -> Side:
    accel = accel or cached_accel() or "tcg"
    with tempfile.TemporaryDirectory(prefix="berth-bench-vm-") as tmp:
        argvs = [bare_argv(_spec(i), Path(tmp) / f"g{i}", accel) for i in range(count)]
        began = time.monotonic()
        launched = {}
        for i, argv in enumerate(argvs):
            launched[i] = time.monotonic()
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        try:
            running = _watch(lambda i: _started(Path(tmp) / f"g{i}" / "console.log"), launched, began + TIMEOUT)
            wall = time.monotonic() - began
        finally:
            for i in launched:
                _kill_pidfile(Path(tmp) / f"g{i}" / "qemu.pid")
    return Side("qemu", list(running.values()), wall, count - len(running))


def _watch(is_running, created: dict, deadline: float, before_poll=lambda: None) -> dict:
    """Each key's latency from its creation to the first poll where `is_running(key)`."""
    running: dict = {}
    while len(running) < len(created) and time.monotonic() < deadline:
        before_poll()
        now = time.monotonic()
        for key in created:
            if key not in running and is_running(key):
                running[key] = now - created[key]
        time.sleep(POLL)
    return running


def _kill_pidfile(pidfile: Path) -> None:
    deadline = time.monotonic() + 5
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)


def qemu_consoles() -> dict[bytes, Path]:
    """The console file of every running QEMU, by its `-name` (the vm runtime's names carry the server id)."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(qemu.PROGRAM.encode()) and b"-name" in argv:
            files = [a[5:] for a in argv if a.startswith(b"file:") and a.endswith(b"console.log")]
            if files:
                found[argv[argv.index(b"-name") + 1]] = Path(files[0].decode())
    return found


def through_plane(count: int, agents: int) -> Side:
    with tempfile.TemporaryDirectory(prefix="berth-bench-vm-") as tmp:
        spec = PlaneSpec(agents=agents, state_dir=tmp, runtime="vm", port=0, agent_vcpus=max(8, count),
                         agent_ram=512 + count * RAM_MIB, heartbeat=2.0)
        plane = CentralisedPlane(spec).start()
        try:
            time.sleep(SETTLE)
            return _servers(plane, count)
        finally:
            plane.stop()


def _servers(plane: CentralisedPlane, count: int) -> Side:
    api = httpx.Client(base_url=plane.compute_url, timeout=60, headers={"X-Auth-Token": plane.token("admin")})
    api.post("/flavors", json={"flavor": {"id": "bench", "name": "bench", "vcpus": VCPUS, "ram": RAM_MIB}})
    created: dict[str, float] = {}

    def create(i: int) -> None:
        began = time.monotonic()
        reply = api.post("/servers", json={"server": {"name": f"bench-{i}", "flavorRef": "bench",
                                                      "command": list(COMMAND)}})
        created[reply.json()["server"]["id"]] = began

    began = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
    consoles: dict[str, Path] = {}
    booted: set[str] = set()
    active: set[str] = set()

    def refresh() -> None:
        """Find new guests' console files; ask the compute API for statuses only once a guest has booted
        that is not yet known ACTIVE (so polling adds next to no load to the plane)."""
        if len(consoles) < len(created):
            for name, path in qemu_consoles().items():
                consoles.update({ident: path for ident in created if ident[:32].encode() in name})
        booted.update(ident for ident, path in consoles.items() if ident not in booted and _started(path))
        if booted - active:
            servers = api.get("/servers/detail").json()["servers"]
            active.update(s["id"] for s in servers if s["status"] == "ACTIVE")

    def is_running(ident: str) -> bool:
        return ident in booted and ident in active

    running = _watch(is_running, created, began + TIMEOUT, refresh)
    wall = time.monotonic() - began
    api.close()
    return Side("berth", list(running.values()), wall, count - len(running))
