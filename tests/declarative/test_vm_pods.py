"""`berth up --runtime vm` on the declarative plane: each container a QEMU guest booting the VM image its
image selects (`berth.launch.vmpods`); an image without one waits (ErrImageNeverPull, the pod Pending);
the one-line refusal without QEMU.  The end-to-end test boots one guest (qemu-system-x86_64 missing
fails it: `.ci/run` installs qemu-system-x86)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from berth.declarative.client import KubeClient
from berth.launch import vmimages
from berth.launch.declarative import LocalCluster
from berth.launch.vmpods import GuestPods, boot_image
from berth.runtime import ManualClock, RestartPolicy, UnitSpec, UnitState, UnitStatus
from tests.conftest import require_program
from tests.declarative.waiting import eventually


def test_an_image_reference_selects_the_boot_image_by_its_repository_name():
    for ref in ("busybox", "busybox:1.36", "localhost:5000/team/busybox:v2", "busybox@sha256:" + "a" * 64,
                "docker.io/library/busybox:latest", ""):
        assert boot_image(ref) == "busybox", ref
    assert boot_image("nginx:1.25") == "nginx"
    assert boot_image("team/..") is None and boot_image("x/.hidden") is None


@dataclass
class Inner:
    """The wrapped runtime's surface GuestPods uses, recording what it was asked to start."""

    images: Path
    clock: ManualClock = field(default_factory=ManualClock)
    name: str = "vm"
    started: list[UnitSpec] = field(default_factory=list)

    def start(self, spec):
        self.started.append(spec)
        return UnitStatus(spec.name, UnitState.WAITING, reason="ContainerCreating")

    def status(self, name):
        return next((UnitStatus(s.name, UnitState.RUNNING) for s in self.started if s.name == name), None)

    def sync(self):
        return []

    def names(self):
        return [s.name for s in self.started]


def make_image(images: Path, name: str) -> None:
    (images / name).mkdir(parents=True)
    (images / name / "vmlinux").write_bytes(b"")
    (images / name / "initrd.gz").write_bytes(b"")


def test_an_image_without_a_boot_image_waits_never_fails_and_starts_once_one_appears(tmp_path):
    make_image(tmp_path, "busybox")
    inner = Inner(tmp_path)
    pods = GuestPods(inner)
    pods.start(UnitSpec("ns/a/c", ("true",), image="localhost:5000/busybox:1.36"))
    assert inner.started[0].image == "busybox", "the guest boots the image's boot image"

    waiting = pods.start(UnitSpec("ns/b/c", ("nginx",), image="nginx:1.25", restart=RestartPolicy.NEVER))
    assert (waiting.state, waiting.reason) == (UnitState.WAITING, "ErrImageNeverPull")
    assert "nginx" in waiting.message and "berth images seed vm" in waiting.message
    assert [s.name for s in pods.sync()] == ["ns/b/c"] and pods.logs("ns/b/c") == b""
    inner.clock.advance(60)
    assert pods.sync() == [] and pods.status("ns/b/c").reason == "ErrImageNeverPull"

    make_image(tmp_path, "nginx")
    inner.clock.advance(10)
    pods.sync()
    assert inner.started[-1].name == "ns/b/c" and inner.started[-1].image == "nginx"
    assert pods.status("ns/b/c").state is UnitState.RUNNING


def test_stopping_a_unit_that_waits_for_its_boot_image_ends_it(tmp_path):
    pods = GuestPods(Inner(tmp_path))
    pods.start(UnitSpec("ns/b/c", ("x",), image="nosuch:1"))
    pods.stop("ns/b/c", 5)
    assert pods.status("ns/b/c").state is UnitState.STOPPED
    pods.remove("ns/b/c")
    assert pods.status("ns/b/c") is None and pods.names() == []


def test_up_with_the_vm_runtime_not_set_up_says_what_is_missing_in_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH without qemu-system-x86_64
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "up", "--runtime", "vm", "--port", "0",
                          "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=60,
                         env={"PATH": str(empty)})
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "qemu-system-x86_64 is missing" in out.stderr and "berth setup vm" in out.stderr
    assert not (tmp_path / "state").exists(), "nothing was started"


def container(pod: dict) -> dict:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def test_a_vm_cluster_runs_a_pod_as_a_guest_and_keeps_a_pod_without_a_boot_image_pending(tmp_path):
    require_program("qemu-system-x86_64", "Debian's qemu-system-x86 (berth setup vm)")
    vmimages.seed()
    with LocalCluster(state_dir=tmp_path / "state", nodes=1, runtime="vm") as cluster:
        assert cluster.accel in ("kvm", "tcg")
        admin = KubeClient(cluster.url, credentials=cluster.admin)
        eventually(lambda: admin.list("serviceaccounts", "default")["items"], 30)
        admin.create("pods", {"metadata": {"name": "exit3"}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "echo hi; exit 3"],
             "resources": {"limits": {"memory": "200Mi", "cpu": "1"}}}]}}, "default")
        admin.create("pods", {"metadata": {"name": "web"}, "spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "nginx"}]}}, "default")

        done = eventually(lambda: (p := admin.get("pods", "exit3", "default"))["status"].get("phase") == "Failed" and p,
                          60, 0.3)
        terminated = container(done)["state"]["terminated"]
        assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
        assert cluster.host.logs("default", "exit3", None, None, False) == b"hi\n"

        web = admin.get("pods", "web", "default")
        assert web["status"]["phase"] == "Pending"
        assert container(web)["state"]["waiting"]["reason"] == "ErrImageNeverPull"
        admin.close()
