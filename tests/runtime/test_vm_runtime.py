"""The vm runtime beyond the shared contract: a real guest's console, its size, deletion, and the parts
that need no QEMU (the initramfs archive, the init's exit report, guest sizing).

The guests boot the image `berth images seed vm` makes (`vm_image` seeds it once per machine; present,
it costs nothing).  qemu-system-x86_64 missing fails these tests (`.ci/run` installs qemu-system-x86).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from berth.runtime import UnitResources, UnitSpec, UnitState, VmRuntime, qemu, vmguest
from berth.runtime.vm import guest_size
from tests.conftest import require_program


@pytest.fixture(scope="module")
def vm_image():
    require_program("qemu-system-x86_64", "apt-get install qemu-system-x86")
    from berth.launch import vmimages
    vmimages.seed()
    return vmimages.IMAGE


@pytest.fixture
def rt(tmp_path):
    runtime = VmRuntime(tmp_path / "vm")
    yield runtime
    runtime.close()


def until(rt: VmRuntime, name: str, ok, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.sync()
        if ok(rt.status(name)):
            return rt.status(name)
        time.sleep(0.1)
    raise AssertionError(f"{name}: {rt.status(name)}")


def test_a_guest_boots_its_console_shows_the_init_and_it_ends_within_one_sync(rt, vm_image):
    rt.start(UnitSpec("g", ("sh", "-c", "echo hello from $(hostname); exit 4"), restart="never", image=vm_image))
    running = until(rt, "g", lambda s: s.state is UnitState.RUNNING)
    assert rt.accel in running.message and running.pid
    identity = qemu.Identity.of(running.pid)
    deadline = time.monotonic() + 90
    while identity.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not identity.alive(), "the guest powered itself off and QEMU exited"
    rt.sync()
    status = rt.status("g")
    assert (status.state, status.exit_code, status.reason) == (UnitState.FAILED, 4, "Error")
    assert "powered off" in status.message
    console = rt.console("g")
    assert vmguest.STARTED.encode() in console and b"hello from g\n" in console
    assert b"berth-guest: exit 4" in console and b"Linux version" not in console  # quiet boot
    assert rt.logs("g") == b"hello from g\n"


def test_the_guest_has_the_units_size_and_deleting_it_stops_qemu(rt, vm_image):
    res = UnitResources(cpu_limit_millis=1500, memory_limit_bytes=200 * 2**20)
    rt.start(UnitSpec("big", ("sh", "-c", "echo ready; grep -c ^processor /proc/cpuinfo; sleep 600"),
                      restart="never", image=vm_image, resources=res))
    pid = until(rt, "big", lambda s: s.state is UnitState.RUNNING).pid
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[argv.index(b"-smp") + 1] == b"2" and argv[argv.index(b"-m") + 1] == b"200"
    until(rt, "big", lambda s: b"ready" in rt.logs("big"))
    until(rt, "big", lambda s: rt.logs("big") == b"ready\n2\n", timeout=10)
    identity = qemu.Identity.of(pid)
    rt.remove("big")
    assert not identity.alive(), "no QEMU left once the unit is removed"
    assert rt.names() == [] and not any((rt.dir).iterdir())


def test_stopping_or_removing_a_guest_still_starting_leaves_no_qemu(rt, vm_image):
    rt.start(UnitSpec("a", ("sleep", "600"), image=vm_image))
    rt.stop("a", grace=0)
    rt.start(UnitSpec("b", ("sleep", "600"), image=vm_image))
    rt.remove("b")
    status = until(rt, "a", lambda s: s.state.terminal, timeout=10)
    assert (status.state, status.exit_code) == (UnitState.STOPPED, 137) and "SIGKILL" in status.message
    assert rt.names() == ["a"] and not _qemus(rt.dir)


def _qemus(under: Path) -> list[int]:
    """QEMU processes whose command line names a path under `under`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if argv.startswith(b"qemu-system") and str(under).encode() in argv:
            found.append(int(proc.name))
    return found


def test_an_image_that_was_never_seeded_fails_the_unit_naming_the_fix(rt):
    status = rt.start(UnitSpec("x", ("true",), image="nosuch"))
    assert status.state is UnitState.FAILED and "berth images seed" in status.message


@pytest.mark.parametrize("res, size", [
    (UnitResources(), (1, 128)),
    (UnitResources(cpu_limit_millis=200, memory_limit_bytes=50 * 2**20), (1, 128)),
    (UnitResources(cpu_limit_millis=2000, memory_limit_bytes=512 * 2**20), (2, 512)),
    (UnitResources(cpu_limit_millis=2001, memory_limit_bytes=300 * 2**20 + 1), (3, 301)),
])
def test_guest_size_from_the_limits(res, size):
    assert guest_size(res) == size


def test_the_unit_archive_carries_command_environment_and_memory_limit(tmp_path):
    spec = UnitSpec("ns/p/c", ("sh", "-c", "echo 'a b'"), env={"X": "it's"}, workdir="/tmp")
    archive = vmguest.unit_archive(spec, "c", 50 * 2**20)
    assert archive[:6] == b"070701" and len(archive) % 512 == 0
    files = _unpack(archive)
    assert files["berth/cmd.sh"] == b". /berth/env.sh\nexec sh -c 'echo '\"'\"'a b'\"'\"''\n"
    assert files["berth/env.sh"] == b"export X='it'\"'\"'s'\ncd /tmp || exit 126\n"
    assert files["berth/memory"] == b"52428800\n" and files["berth/hostname"] == b"c\n"


def test_the_exit_report_is_the_last_one_on_the_console():
    assert vmguest.exit_code(b"boot\nberth-guest: started\nx\n") is None
    assert vmguest.exit_code(b"berth-guest: exit 3 oom_kill 0\r\n") == (3, False)
    assert vmguest.exit_code(b"berth-guest: exit 1 oom_kill 0\nberth-guest: exit 137 oom_kill 2\n") == (137, True)


def _unpack(archive: bytes) -> dict[str, bytes]:
    """A newc archive's regular files by path (a reader independent of the writer)."""
    files, at = {}, 0
    while True:
        header = archive[at:at + 110]
        mode, size, namesize = (int(header[6 + 8 * i:14 + 8 * i], 16) for i in (1, 6, 11))
        name = archive[at + 110:at + 110 + namesize - 1].decode()
        at = (at + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return files
        if mode & 0o100000:
            files[name] = archive[at:at + size]
        at = (at + size + 3) & ~3



def test_a_unit_directory_too_long_for_a_socket_path_still_boots(tmp_path, vm_image):
    """QEMU refuses unix socket paths over 108 bytes; a runtime under a long directory puts its guests'
    sockets in a short one of their own, and removes it with the unit."""
    rt = VmRuntime(tmp_path / ("d" * 60) / ("e" * 60))
    try:
        spec = UnitSpec("long", ("sh", "-c", "echo hi"), image=vm_image, restart="never")
        rt.start(spec)
        status = until(rt, "long", lambda s: s.state.terminal)
        assert (status.state, status.exit_code) == (UnitState.SUCCEEDED, 0), status.message
        short = qemu.sock_path(rt._unit_dir(spec), "qmp.sock").parent
        assert short.name.startswith("berth-vm-") and short.exists()
        rt.remove("long")
        assert not short.exists()
    finally:
        rt.close()
