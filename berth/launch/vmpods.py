"""`GuestPods`: a declarative node agent's pods on the `vm` runtime, each container a QEMU guest (as Kata's).

`LocalCluster` wraps each node's `berth.runtime.RUNTIMES["vm"]` in it for `berth up --runtime vm`.  A
container's image selects the guest's boot image by its repository's last name, tag, digest and registry
dropped (`busybox`, `busybox:1.36` and `localhost:5000/team/busybox:v2` all boot
`<home>/vm/images/busybox/`, see `boot_image`); its command (or `sh`) is what the guest's init runs; its
limits size the guest (`berth.runtime.vm.guest_size`).  An image with no boot image of its own is not run
in another one (its programs are not there: `nginx` in a busybox guest would fail and churn): the unit
waits with the kubelet's `ErrImageNeverPull` (the vm runtime pulls nothing; boot images are made on the
machine), so the pod stays Pending, and starts once the boot image appears (looked for every
`RECHECK` seconds).  Everything else is the wrapped runtime's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from berth.runtime import ExecResult, Runtime, UnitSpec, UnitState, UnitStatus, Usage

RECHECK = 5.0
"""Seconds between looks for the boot image of a waiting unit."""
DEFAULT = "busybox"
"""The boot image of a container without an image."""
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def boot_image(ref: str) -> str | None:
    """The boot image name an image reference selects (its repository's last path part), or None when
    the reference has no usable name."""
    ref = (ref or DEFAULT).split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1].split(":", 1)[0].lower()
    return last if _NAME.fullmatch(last) else None


def has_boot_image(images: Path, name: str | None) -> bool:
    return name is not None and (images / name / "vmlinux").is_file() and (images / name / "initrd.gz").is_file()


@dataclass
class _Waiting:
    spec: UnitSpec
    status: UnitStatus
    next_check: float


class GuestPods:
    """A `Runtime` that boots each unit in the VM image its container image selects (see the module)."""

    def __init__(self, inner: Runtime) -> None:
        self.inner, self.name = inner, inner.name
        self.images: Path = inner.images
        self.clock = inner.clock
        self._waiting: dict[str, _Waiting] = {}
        self._changed: list[UnitStatus] = []

    def start(self, spec: UnitSpec) -> UnitStatus:
        if spec.name in self._waiting or self.inner.status(spec.name) is not None:
            raise ValueError(f"unit {spec.name!r} already exists")
        name = boot_image(spec.image)
        if has_boot_image(self.images, name):
            return self.inner.start(replace(spec, image=name))
        message = (f'Container image "{spec.image}" has no VM boot image ({self.images / (name or "?")}); '
                   f"the vm runtime boots only images made on this machine (berth images seed vm)")
        status = UnitStatus(spec.name, UnitState.WAITING, reason="ErrImageNeverPull", message=message)
        self._waiting[spec.name] = _Waiting(spec, status, self.clock.now() + RECHECK)
        self._changed.append(status)
        return status

    def sync(self) -> list[UnitStatus]:
        now = self.clock.now()
        for unit in [w for w in self._waiting.values() if w.status.state is UnitState.WAITING and now >= w.next_check]:
            unit.next_check = now + RECHECK
            if has_boot_image(self.images, boot_image(unit.spec.image)):
                del self._waiting[unit.spec.name]
                self.inner.start(replace(unit.spec, image=boot_image(unit.spec.image)))
        changed, self._changed = self._changed, []
        return changed + self.inner.sync()

    def stop(self, name: str, grace: float) -> None:
        unit = self._waiting.get(name)
        if unit is None:
            self.inner.stop(name, grace)
        elif unit.status.state is UnitState.WAITING:
            unit.status = replace(unit.status, state=UnitState.STOPPED, finished_at=self.clock.now())
            self._changed.append(unit.status)

    def remove(self, name: str) -> None:
        if self._waiting.pop(name, None) is None:
            self.inner.remove(name)

    def status(self, name: str) -> UnitStatus | None:
        unit = self._waiting.get(name)
        return unit.status if unit else self.inner.status(name)

    def names(self) -> list[str]:
        return [*self.inner.names(), *self._waiting]

    def logs(self, name: str, tail: int | None = None, previous: bool = False) -> bytes | None:
        return b"" if name in self._waiting else self.inner.logs(name, tail, previous)

    def console(self, name: str, tail: int | None = None) -> bytes | None:
        """The guest's serial console (`VmRuntime.console`); empty while the unit waits for its image."""
        return b"" if name in self._waiting else self.inner.console(name, tail)

    def exec(self, name: str, argv: tuple[str, ...], timeout: float = 30.0) -> ExecResult | None:
        return None if name in self._waiting else self.inner.exec(name, argv, timeout)

    def usage(self, name: str) -> Usage | None:
        return Usage(0.0, 0) if name in self._waiting else self.inner.usage(name)

    def close(self) -> None:
        self._waiting.clear()
        self.inner.close()
