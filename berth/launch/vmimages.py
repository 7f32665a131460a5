"""The `vm` runtime's boot image and its accelerator probe (`berth images seed vm`, `berth setup vm`).

`seed()` makes `<home>/vm/images/busybox/` (home: $BERTH_HOME or ~/.local/share/berth): the kernel
of Debian's `linux-image-amd64` (downloaded with `apt-get download`, never installed: the `.deb`'s
`vmlinuz` is unpacked into the state directory and decompressed to `vmlinux`, which QEMU boots
through its PVH entry, skipping the compressed kernel's own decompressor), and `initrd.gz`, a
busybox initramfs (from Debian's `busybox-static`) whose `/init` is `berth.runtime.vmguest.INIT`,
with the two modules of that kernel the ACPI power button needs (`button`, `evdev`).  Everything
else a guest uses (the serial console, the initramfs, cgroup v2) is built into Debian's kernel.

`probe()` decides the accelerator once per machine and caches it in `<home>/vm/accel`: it boots the
image under KVM (host CPU model) with a short timeout and keeps `kvm` if the guest's init ran,
else `tcg` (what a wider search found on this kind of machine is in docs/runtimes.md).
`missing("vm")` is the one-line check `berth up --runtime vm` makes.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from berth.runtime import RestartPolicy, UnitSpec, UnitState, qemu, vmguest
from berth.runtime.podman import default_home
from berth.runtime.vm import VmRuntime, cached_accel, images_dir

PACKAGES = ("qemu-system-x86", "busybox-static")
"""The Debian packages the vm runtime needs installed (the kernel is downloaded, not installed)."""
KERNEL_PACKAGE = "linux-image-amd64"
MODULES = ("kernel/drivers/acpi/button.ko", "kernel/drivers/input/evdev.ko")
BUSYBOX = Path("/bin/busybox")
IMAGE = "busybox"
PROBE_TIMEOUT = 10.0


def missing_program() -> str | None:
    """One line naming a program the vm runtime needs that this machine lacks, or None."""
    for program, package in ((qemu.PROGRAM, "qemu-system-x86"), (str(BUSYBOX), "busybox-static"),
                             ("apt-get", "apt"), ("dpkg-deb", "dpkg")):
        if shutil.which(program) is None:
            return f"{program} is missing (Debian's {package}): run berth setup vm"
    return None


def missing(runtime: str) -> str | None:
    """One line naming what the vm runtime lacks here and the command that fixes it, or None."""
    if runtime != "vm":
        return None
    if missing_program():
        return missing_program()
    if not (images_dir() / IMAGE / "initrd.gz").is_file():
        return f"no VM boot image in {images_dir()}: run berth images seed vm"
    return None


def seed(force: bool = False) -> dict:
    """Make the boot image unless it exists (or `force`); what was done, as a JSON-ready dict."""
    started = time.monotonic()
    target = images_dir() / IMAGE
    if (target / "vmlinux").is_file() and (target / "initrd.gz").is_file() and not force:
        return {"image": IMAGE, "outcome": "present", "dir": str(target), "seconds": 0.0}
    with tempfile.TemporaryDirectory(prefix="berth-vmimage-") as tmp:
        root = _unpack_kernel(Path(tmp))
        version = next((root / "lib" / "modules").iterdir()).name
        staging = images_dir() / f".{IMAGE}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        (staging / "vmlinux").write_bytes(decompress(next((root / "boot").glob("vmlinuz-*")).read_bytes()))
        modules = [root / "lib" / "modules" / version / m for m in MODULES]
        (staging / "initrd.gz").write_bytes(gzip.compress(initramfs(modules), compresslevel=6))
        (staging / "kernel-version").write_text(version + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return {"image": IMAGE, "outcome": "built", "dir": str(target), "kernel": version,
            "seconds": round(time.monotonic() - started, 2)}


def _unpack_kernel(tmp: Path) -> Path:
    """Download the kernel package Debian's meta-package points to and unpack its kernel and modules."""
    depends = _run(["apt-cache", "depends", KERNEL_PACKAGE], tmp)
    package = next(line.split(":", 1)[1].strip() for line in depends.splitlines() if "Depends:" in line)
    _run(["apt-get", "download", "-q", package], tmp)
    deb = next(tmp.glob("linux-image-*.deb"))
    root = tmp / "root"
    root.mkdir()
    listing = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    wanted = ["./boot/vmlinuz-*", *(f"./lib/modules/*/{m}" for m in MODULES)]
    _run(["tar", "-x", "--wildcards", *wanted], root, stdin=listing.stdout)
    listing.wait()
    return root


def decompress(vmlinuz: bytes) -> bytes:
    """The ELF kernel inside a bzImage compressed with xz (Debian's)."""
    at = vmlinuz.find(b"\xfd7zXZ\x00")
    if at < 0:
        raise RuntimeError("the kernel is not xz-compressed; cannot find its ELF image")
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(vmlinuz[at:])


def initramfs(modules: list[Path]) -> bytes:
    """The image's busybox root file system as one newc archive."""
    dirs = ("bin", "dev", "etc", "etc/acpi", "lib", "lib/modules", "proc", "run", "sys", "tmp", "berth")
    files = [("bin/busybox", 0o755, BUSYBOX.read_bytes()), ("init", 0o755, vmguest.INIT.encode()),
             ("etc/acpid.conf", 0o644, vmguest.ACPID_CONF.encode()),
             ("etc/acpi/power", 0o755, vmguest.POWER_ACTION.encode()),
             *((f"lib/modules/{m.name}", 0o644, m.read_bytes()) for m in modules)]
    return vmguest.newc([*((d, 0o755, None) for d in dirs), *files])


def probe(timeout: float = PROBE_TIMEOUT, force: bool = False) -> dict:
    """KVM or TCG for this machine, cached: boots the image under KVM when /dev/kvm exists."""
    cache = default_home() / "vm" / "accel"
    if cached_accel() and not force:
        return {"accel": cached_accel(), "probed": False}
    tried = {}
    if Path("/dev/kvm").exists():
        tried["kvm"] = boot_seconds("kvm", timeout)
    accel = "kvm" if tried.get("kvm") is not None else "tcg"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(f"{accel}\n")
    return {"accel": accel, "probed": True, "kvm_boot_seconds": tried.get("kvm")}


def boot_seconds(accel: str, timeout: float, image: str = IMAGE) -> float | None:
    """Seconds from start to the guest's init running `true` and QEMU exiting, or None if not within `timeout`."""
    runtime = VmRuntime(accel=accel, cgroups=False)
    try:
        began = time.monotonic()
        runtime.start(UnitSpec("probe", ("true",), restart=RestartPolicy.NEVER, image=image))
        while time.monotonic() - began < timeout:
            runtime.sync()
            if runtime.status("probe").state.terminal:
                done = runtime.status("probe")
                return round(time.monotonic() - began, 2) if done.state is UnitState.SUCCEEDED else None
            time.sleep(0.1)
        return None
    finally:
        runtime.close()


def _run(argv: list[str], cwd: Path, stdin=None) -> str:
    done = subprocess.run(argv, cwd=cwd, stdin=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [str(done.returncode)]
        raise RuntimeError(f"{' '.join(argv[:2])} failed: {tail[0]}")
    return done.stdout
