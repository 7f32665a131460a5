"""The container runtime against real podman and the local registry's seeded images.

The session fixture starts the registry and seeds the images once (cheap when they are there);
podman, runc, catatonit, the CNI plugins and docker-registry are test dependencies: a missing one
fails these tests, never skips them (`.ci/run` installs them).  The contract cases live in
test_contract.py; here: images served over each unit's own address, two groups on one port,
failed pulls that wait and never fail, the memory limit's OOM kill and the CPU limit.
"""

from __future__ import annotations

import time
import urllib.request

import pytest

from berth.runtime import ManualClock, UnitResources, UnitSpec, UnitState, UnitStatus
from berth.runtime.container import ContainerRuntime
from tests.conftest import require_program

HOW = "run `berth setup container` (Debian's podman, runc, catatonit, containernetworking-plugins, docker-registry)"


@pytest.fixture(scope="session")
def seeded() -> None:
    for program in ("podman", "runc", "catatonit", "docker-registry"):
        require_program(program, HOW)
    from berth.launch import images

    problem = images.missing("container")
    if problem:
        pytest.fail(problem, pytrace=False)
    images.start_registry()
    images.seed()


@pytest.fixture
def rt(seeded, tmp_path):
    runtime = ContainerRuntime(tmp_path / "ctr", clock=ManualClock())
    yield runtime
    runtime.close()


def until(rt: ContainerRuntime, name: str, ok, timeout: float = 60.0) -> UnitStatus:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        rt.sync()
        status = rt.status(name)
        seen.append((status.state.value, status.reason))
        if ok(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"{name}: {rt.status(name)}; seen {sorted(set(seen))}")


def running(rt: ContainerRuntime, name: str) -> UnitStatus:
    return until(rt, name, lambda s: s.state is UnitState.RUNNING)


def get(url: str, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_nginx_answers_http_on_its_address(rt):
    rt.start(UnitSpec("web/nginx", (), image="nginx:1.25", group="web"))
    status = running(rt, "web/nginx")
    assert status.ip and status.ip.startswith("10.88.")
    assert b"Welcome to nginx" in get(f"http://{status.ip}/")
    until(rt, "web/nginx", lambda s: b"GET / HTTP/1.1" in rt.logs("web/nginx"))  # the access log is its output


def test_two_groups_listen_on_the_same_port(rt):
    for name in ("a", "b"):
        script = f"mkdir /w && echo {name} > /w/index.html && exec httpd -f -p 8080 -h /w"
        rt.start(UnitSpec(f"{name}/srv", ("sh", "-c", script), image="busybox", group=name))
    first, second = running(rt, "a/srv"), running(rt, "b/srv")
    assert first.ip != second.ip
    assert (get(f"http://{first.ip}:8080/"), get(f"http://{second.ip}:8080/")) == (b"a\n", b"b\n")


def test_units_of_one_group_share_its_address(rt):
    rt.start(UnitSpec("p/server", ("httpd", "-f", "-p", "8080", "-h", "/etc"), image="busybox", group="p"))
    rt.start(UnitSpec("p/client", ("sleep", "60"), image="busybox:1.36", group="p"))
    server, client = running(rt, "p/server"), running(rt, "p/client")
    assert server.ip == client.ip
    fetched = rt.exec("p/client", ("wget", "-q", "-O", "-", "http://127.0.0.1:8080/hosts"), timeout=10)
    assert fetched.exit_code == 0 and b"localhost" in fetched.output


def test_a_missing_image_waits_and_never_fails(seeded, tmp_path):
    clock = ManualClock()
    rt = ContainerRuntime(tmp_path / "ctr", clock=clock)
    try:
        rt.start(UnitSpec("ghost", ("sh",), image="nosuch:1"))
        first = until(rt, "ghost", lambda s: s.reason == "ErrImagePull")
        assert first.state is UnitState.WAITING and "nosuch" in first.message
        until(rt, "ghost", lambda s: s.reason == "ImagePullBackOff")
        clock.advance(9.9)
        rt.sync()
        assert rt.status("ghost").reason == "ImagePullBackOff", "the first back-off is 10 s"
        clock.advance(0.2)
        until(rt, "ghost", lambda s: s.reason == "ErrImagePull")
        until(rt, "ghost", lambda s: s.reason == "ImagePullBackOff")
        clock.advance(19.0)
        rt.sync()
        assert rt.status("ghost").reason == "ImagePullBackOff", "the second back-off doubles to 20 s"
        assert rt.status("ghost").state is UnitState.WAITING
    finally:
        rt.close()


def test_over_its_memory_limit_a_unit_is_oom_killed(rt):
    limits = UnitResources(memory_limit_bytes=50 * 2**20)
    rt.start(UnitSpec("hog", ("sh", "-c", "head -c 500m /dev/zero | tail"), image="busybox", restart="never",
                      resources=limits))
    status = until(rt, "hog", lambda s: s.state.terminal)
    assert (status.state, status.exit_code, status.reason) == (UnitState.FAILED, 137, "OOMKilled")


def test_a_cpu_limit_caps_a_busy_loop(rt):
    rt.start(UnitSpec("spin", ("sh", "-c", "while :; do :; done"), image="busybox",
                      resources=UnitResources(cpu_limit_millis=200)))
    running(rt, "spin")
    before, started = rt.usage("spin").cpu_seconds, time.monotonic()
    time.sleep(2.0)
    used = (rt.usage("spin").cpu_seconds - before) / (time.monotonic() - started)
    assert 0.05 < used <= 0.25, f"a 200m limit used {used:.2f} of a core"
