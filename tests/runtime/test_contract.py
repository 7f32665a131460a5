"""The runtime contract (`berth.runtime.base.Runtime`): one set of cases, run against every runtime.

`ROWS` is the table of runtimes: how to make one, the image its units run from (image-based
runtimes run the same shell commands from a busybox image: sh, echo, sleep, cat, trap), the
programs the machine needs for it (a missing one fails the test, never skips it), and whether it
really runs commands.  The fake runtime runs nothing: each case gives it the options that make it
act as the command would (`exit-after`, `exit-code`, `stop-after`, `stop-exit-code`,
`start-error`); its logs are synthetic, so the output checks apply to real runtimes only.
Every runtime gets a `ManualClock` and back-off 5 s doubling to 20 s: back-offs and grace periods
pass when a case advances the clock; real exits happen in real time and cases poll `sync()`.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from berth.runtime import ManualClock, Runtime, UnitResources, UnitSpec, UnitState, UnitStatus
from tests.conftest import require_program

BACKOFF, MAX_BACKOFF = 5.0, 20.0


@dataclass(frozen=True)
class Row:
    """One runtime under the contract."""

    name: str
    make: Callable[..., Runtime]
    """(tmp_path, clock) -> a runtime with back-off BACKOFF..MAX_BACKOFF."""
    image: str = ""
    needs: tuple[tuple[str, str], ...] = ()
    """(program, how to get it) the machine must have."""
    real: bool = True
    timeout: float = 15.0
    """Real seconds a case waits for a unit to reach a state."""
    pause: float = 0.02


def _fake(tmp_path, clock):
    from berth.runtime import FakeRuntime
    return FakeRuntime(clock, backoff=BACKOFF, max_backoff=MAX_BACKOFF)


def _process(tmp_path, clock):
    from berth.runtime import ProcessRuntime
    return ProcessRuntime(tmp_path / "logs", clock=clock, backoff=BACKOFF, max_backoff=MAX_BACKOFF)


def _container(tmp_path, clock):
    from berth.runtime.container import ContainerRuntime
    return ContainerRuntime(tmp_path / "ctr", clock=clock, backoff=BACKOFF, max_backoff=MAX_BACKOFF)


def _vm(tmp_path, clock):
    from berth.launch import vmimages
    from berth.runtime.vm import VmRuntime
    vmimages.seed()  # the boot image `berth images seed vm` makes; present, it costs nothing
    return VmRuntime(tmp_path / "vm", clock=clock, backoff=BACKOFF, max_backoff=MAX_BACKOFF)


ROWS = [
    Row("fake", _fake, real=False, timeout=5.0, pause=0.0),
    Row("process", _process),
    Row("container", _container, image="busybox", timeout=60.0, pause=0.1,
        needs=(("podman", "apt-get install podman"),)),
    Row("vm", _vm, image="busybox", timeout=120.0, pause=0.2,
        needs=(("qemu-system-x86_64", "apt-get install qemu-system-x86"),)),
]
"""Every runtime; a row whose module is not in berth yet is left out (see `_landed`)."""


def _landed(row: Row) -> bool:
    module = {"container": "berth.runtime.container", "vm": "berth.runtime.vm"}.get(row.name)
    return module is None or importlib.util.find_spec(module) is not None


@dataclass
class Drive:
    """A runtime under test with the helpers every case uses."""

    rt: Runtime
    row: Row
    clock: ManualClock
    made: list[str] = field(default_factory=list)

    def start(self, name: str, script: str, restart: str = "never", resources: UnitResources = UnitResources(),
              **fake: str) -> UnitStatus:
        """Start `sh -c script`; `fake` are the fake runtime's options that act the script out."""
        options = {k.replace("_", "-"): v for k, v in fake.items()} if not self.row.real else {}
        spec = UnitSpec(name, ("sh", "-c", script), restart=restart, image=self.row.image, options=options,
                        resources=resources)
        return self.rt.start(spec)

    def until(self, name: str, ok: Callable[[UnitStatus], bool], what: str) -> UnitStatus:
        """sync() until `ok(status)`; the fake's virtual time moves 0.1 s a round, real time a pause."""
        deadline = time.monotonic() + self.row.timeout
        while time.monotonic() < deadline:
            self.rt.sync()
            status = self.rt.status(name)
            if status is not None and ok(status):
                return status
            if self.row.real:
                time.sleep(self.row.pause)
            else:
                self.clock.advance(0.1)
        raise AssertionError(f"{self.row.name}: {name} never {what}: {self.rt.status(name)}")

    def state(self, name: str, *states: UnitState) -> UnitStatus:
        return self.until(name, lambda s: s.state in states, f"reached {[s.value for s in states]}")

    def ready(self, name: str) -> None:
        """Wait for a real unit to print `ready` (its traps are set), after it is RUNNING."""
        self.state(name, UnitState.RUNNING)
        if self.row.real:
            self.until(name, lambda s: b"ready" in (self.rt.logs(name) or b""), "printed ready")

    def tick(self, seconds: float) -> UnitStatus | None:
        self.clock.advance(seconds)
        self.rt.sync()


@pytest.fixture(params=[r for r in ROWS if _landed(r)], ids=lambda r: r.name)
def drive(request, tmp_path):
    row: Row = request.param
    for program, how in row.needs:
        require_program(program, f"the {row.name} runtime's contract test needs it ({how})")
    clock = ManualClock()
    rt = row.make(tmp_path, clock)
    yield Drive(rt, row, clock)
    rt.close()


SLEEPER = "echo ready; sleep 60 & wait"
POLITE = "trap 'echo term; exit 0' TERM; echo ready; sleep 60 & wait"
STUBBORN = "trap '' TERM; echo ready; while true; do sleep 1; done"


def test_it_is_a_runtime(drive):
    assert isinstance(drive.rt, Runtime) and drive.rt.name == drive.row.name


def test_start_runs(drive):
    first = drive.start("ns/p/c", SLEEPER)
    assert first.name == "ns/p/c" and first.state in (UnitState.RUNNING, UnitState.WAITING)
    status = drive.state("ns/p/c", UnitState.RUNNING)
    assert status.restarts == 0 and status.exit_code is None and status.started_at is not None


def test_exit_zero_succeeds_as_completed(drive):
    drive.start("ok", "echo hi; exit 0", exit_after="0.5")
    status = drive.state("ok", UnitState.SUCCEEDED, UnitState.FAILED)
    assert (status.state, status.exit_code, status.reason) == (UnitState.SUCCEEDED, 0, "Completed")
    assert status.finished_at is not None and status.restarts == 0
    if drive.row.real:
        assert drive.rt.logs("ok") == b"hi\n"


def test_exit_three_fails_as_error(drive):
    drive.start("bad", "echo hi; exit 3", exit_after="0.5", exit_code="3")
    status = drive.state("bad", UnitState.SUCCEEDED, UnitState.FAILED)
    assert (status.state, status.exit_code, status.reason) == (UnitState.FAILED, 3, "Error")


def test_restart_policy_backs_off_doubling_and_counts(drive):
    drive.start("loop", "echo run; exit 1", restart="on-failure", exit_after="0.5", exit_code="1")
    first = drive.state("loop", UnitState.WAITING)
    if first.exit_code is None:  # an image runtime may wait (ContainerCreating) before the first run
        first = drive.until("loop", lambda s: s.state is UnitState.WAITING and s.exit_code is not None, "exited")
    assert (first.exit_code, first.reason, first.restarts) == (1, "CrashLoopBackOff", 0)
    assert first.last_reason == "Error", "the run that ended is the kubelet's lastState"
    drive.tick(BACKOFF - 0.1)
    assert drive.rt.status("loop").restarts == 0, "the first back-off is not over"
    drive.tick(0.2)
    assert drive.rt.status("loop").restarts == 1
    second = drive.until("loop", lambda s: s.state is UnitState.WAITING and s.finished_at > first.finished_at,
                         "exited again")
    assert (second.restarts, second.reason, second.exit_code) == (1, "CrashLoopBackOff", 1)
    drive.tick(2 * BACKOFF - 0.1)
    assert drive.rt.status("loop").restarts == 1, "the second back-off doubles"
    drive.tick(0.2)
    assert drive.rt.status("loop").restarts == 2
    previous = drive.rt.logs("loop", previous=True)
    assert previous == b"run\n" if drive.row.real else previous


def test_never_policy_does_not_restart(drive):
    drive.start("once", "exit 1", restart="never", exit_after="0.5", exit_code="1")
    drive.state("once", UnitState.FAILED)
    drive.tick(MAX_BACKOFF * 2)
    status = drive.rt.status("once")
    assert status.state is UnitState.FAILED and status.restarts == 0


def test_stop_sends_sigterm_first(drive):
    drive.start("polite", POLITE, stop_after="0", stop_exit_code="0")
    drive.ready("polite")
    drive.rt.stop("polite", grace=30)
    status = drive.state("polite", UnitState.STOPPED)
    assert status.exit_code == 0 and status.reason == "Completed"
    if drive.row.real:
        assert b"term" in drive.rt.logs("polite")


def test_stop_kills_after_the_grace_period(drive):
    drive.start("stubborn", STUBBORN, stop_after="60")
    drive.ready("stubborn")
    drive.rt.stop("stubborn", grace=10)
    time.sleep(0.3 if drive.row.real else 0)
    drive.rt.sync()
    assert drive.rt.status("stubborn").state is UnitState.STOPPING, "SIGTERM is ignored, the grace is not over"
    drive.tick(10)
    status = drive.state("stubborn", UnitState.STOPPED)
    assert (status.exit_code, status.reason) == (137, "Error")


def test_stop_while_waiting_is_immediate(drive):
    drive.start("crash", "exit 1", restart="always", exit_after="0.5", exit_code="1")
    drive.until("crash", lambda s: s.state is UnitState.WAITING and s.exit_code is not None, "exited")
    drive.rt.stop("crash", grace=30)
    assert drive.rt.status("crash").state is UnitState.STOPPED
    drive.rt.stop("nobody", grace=1)  # unknown names are ignored


def test_remove_forgets_live_and_ended_units(drive):
    drive.start("live", SLEEPER)
    drive.start("ended", "exit 0", exit_after="0.5")
    drive.state("live", UnitState.RUNNING)
    drive.state("ended", UnitState.SUCCEEDED)
    assert sorted(drive.rt.names()) == ["ended", "live"]
    for name in ("live", "ended"):
        drive.rt.remove(name)
        assert drive.rt.status(name) is None and drive.rt.logs(name) is None
    assert drive.rt.names() == []
    drive.rt.remove("nobody")


def test_names_and_duplicates(drive):
    drive.start("a", SLEEPER)
    drive.start("b/c", SLEEPER)
    assert sorted(drive.rt.names()) == ["a", "b/c"]
    with pytest.raises(ValueError):
        drive.start("a", SLEEPER)


def test_logs_tail_and_unknown(drive):
    drive.start("many", "for i in 1 2 3 4 5; do echo $i; done", exit_after="0.5")
    drive.state("many", UnitState.SUCCEEDED)
    assert drive.rt.logs("nobody") is None and drive.rt.logs("many", tail=0) == b""
    if drive.row.real:
        assert drive.rt.logs("many", tail=2) == b"4\n5\n"
        assert drive.rt.logs("many", previous=True) == b""


def test_exec_in_a_running_unit(drive):
    drive.start("svc", SLEEPER)
    drive.ready("svc")
    hi = drive.rt.exec("svc", ("echo", "hi"), timeout=30)
    assert (hi.exit_code, hi.output) == (0, b"hi\n")
    assert drive.rt.exec("svc", ("false",), timeout=30).exit_code != 0
    assert drive.rt.exec("nobody", ("echo", "hi")) is None
    drive.rt.stop("svc", grace=0)
    drive.state("svc", UnitState.STOPPED)
    assert drive.rt.exec("svc", ("echo", "hi")) is None


def test_usage_of_a_running_unit(drive):
    drive.start("svc", SLEEPER)
    drive.ready("svc")
    usage = drive.rt.usage("svc")
    assert usage is not None and usage.cpu_seconds >= 0 and usage.memory_bytes > 0
    assert drive.rt.usage("nobody") is None


def test_a_program_that_does_not_exist_fails(drive):
    spec = UnitSpec("ghost", ("/nonexistent/program",), restart="never", image=drive.row.image,
                    options={} if drive.row.real else {"start-error": "no such program"})
    drive.rt.start(spec)
    status = drive.state("ghost", UnitState.FAILED, UnitState.SUCCEEDED)
    assert status.state is UnitState.FAILED and status.exit_code not in (None, 0)
    assert status.message and status.reason


def test_over_its_memory_limit_a_unit_is_oom_killed(drive):
    hog = "head -c 500000000 /dev/zero | tail -n 1"  # tail keeps the one 500 MB line; sh exits with its 137
    drive.start("hog", hog, resources=UnitResources(memory_limit_bytes=50 * 2**20), exit_after="0.5",
                exit_code="137")
    status = drive.state("hog", UnitState.FAILED, UnitState.SUCCEEDED)
    assert (status.state, status.exit_code, status.reason) == (UnitState.FAILED, 137, "OOMKilled")


def test_a_cpu_limit_holds_a_busy_loop(drive):
    drive.start("spin", "echo ready; while :; do :; done",
                resources=UnitResources(cpu_request_millis=200, cpu_limit_millis=200))
    drive.ready("spin")
    wall = 3.0
    before = drive.rt.usage("spin").cpu_seconds
    if drive.row.real:
        time.sleep(wall)
    else:
        drive.clock.advance(wall)
    share = (drive.rt.usage("spin").cpu_seconds - before) / wall
    assert 0.1 < share <= 0.25, f"{share:.1%} of a core under a 200m limit"
