"""The process runtime runs real subprocesses: output to logs, exits by restart policy, stop with grace.

Exits happen in real time, so each test polls `sync()` in a bounded loop; back-offs and grace
periods run on a `ManualClock` so the timeline is explicit.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from berth.runtime import ManualClock, ProcessRuntime, Runtime, UnitSpec, UnitState

PY = sys.executable


def settle(rt, name, states, timeout=10.0):
    """Call sync() until unit `name` is in one of `states` (real time bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.sync()
        if rt.status(name).state in states:
            return rt.status(name)
        time.sleep(0.02)
    raise AssertionError(f"{name} stayed {rt.status(name)}")


@pytest.fixture
def rt(tmp_path):
    clock = ManualClock()
    runtime = ProcessRuntime(tmp_path / "logs", clock=clock, backoff=5.0, max_backoff=20.0)
    yield runtime
    runtime.close()


def test_it_is_a_runtime(rt):
    assert isinstance(rt, Runtime)


def test_output_and_env_reach_the_log_and_exit_zero_succeeds(rt):
    spec = UnitSpec("ns/p/c", (PY, "-c", "import os; print('hello', os.environ['WHO'])"), env={"WHO": "berth"},
                    restart="never")
    assert rt.start(spec).state is UnitState.RUNNING
    status = settle(rt, "ns/p/c", {UnitState.SUCCEEDED})
    assert status.exit_code == 0 and status.restarts == 0
    assert rt.logs("ns/p/c") == b"hello berth\n"


def test_failure_without_restart_is_failed_with_its_code(rt):
    rt.start(UnitSpec("bad", (PY, "-c", "import sys; sys.exit(3)"), restart="on-failure"))
    status = settle(rt, "bad", {UnitState.WAITING})
    assert status.exit_code == 3 and "back-off" in status.message
    rt.stop("bad", 30)
    assert rt.status("bad").state is UnitState.STOPPED


def test_restart_policy_always_restarts_after_backoff_and_counts(rt):
    rt.start(UnitSpec("loop", (PY, "-c", "print('run')"), restart="always"))
    settle(rt, "loop", {UnitState.WAITING})
    rt.clock.advance(4.9)
    rt.sync()
    assert rt.status("loop").state is UnitState.WAITING, "back-off of 5 s not over yet"
    rt.clock.advance(0.2)
    rt.sync()
    assert rt.status("loop").restarts == 1
    settle(rt, "loop", {UnitState.WAITING})
    rt.clock.advance(9.9)
    rt.sync()
    assert rt.status("loop").restarts == 1, "second back-off doubles to 10 s"
    rt.clock.advance(0.2)
    rt.sync()
    assert rt.status("loop").restarts == 2
    assert rt.logs("loop", previous=True) == b"run\n"


def test_never_policy_failure_is_terminal(rt):
    rt.start(UnitSpec("once", (PY, "-c", "raise SystemExit(2)"), restart="never"))
    status = settle(rt, "once", {UnitState.FAILED})
    assert status.exit_code == 2 and status.state.terminal


def test_missing_program_fails_with_a_message(rt):
    status = rt.start(UnitSpec("ghost", ("/nonexistent/program",), restart="never"))
    assert status.state is UnitState.FAILED and "cannot start" in status.message


def test_stop_sends_sigterm_first(rt, tmp_path):
    marker = tmp_path / "term"
    code = ("import signal, sys, time, pathlib\n"
            f"def bye(*a): pathlib.Path({str(marker)!r}).write_text('term'); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(60)\n")
    rt.start(UnitSpec("polite", (PY, "-c", code)))
    _wait_log(rt, "polite", b"ready")
    rt.stop("polite", grace=30)
    status = settle(rt, "polite", {UnitState.STOPPED})
    assert marker.read_text() == "term" and status.exit_code == 0


def test_stop_kills_after_the_grace_period(rt):
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    rt.start(UnitSpec("stubborn", (PY, "-c", code)))
    _wait_log(rt, "stubborn", b"ready")
    pid = rt.status("stubborn").pid
    rt.stop("stubborn", grace=10)
    time.sleep(0.3)
    rt.sync()
    assert rt.status("stubborn").state is UnitState.STOPPING, "SIGTERM is ignored, grace not over"
    rt.clock.advance(10)
    status = settle(rt, "stubborn", {UnitState.STOPPED})
    assert status.exit_code == 137
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_sync_reports_only_changes(rt):
    rt.start(UnitSpec("quick", (PY, "-c", "pass"), restart="never"))
    assert [s.name for s in rt.sync()] in (["quick"], [])
    settle(rt, "quick", {UnitState.SUCCEEDED})
    assert rt.sync() == []


def test_duplicate_name_is_a_caller_bug(rt):
    rt.start(UnitSpec("dup", (PY, "-c", "pass")))
    with pytest.raises(ValueError):
        rt.start(UnitSpec("dup", (PY, "-c", "pass")))


def test_remove_forgets_unit_and_logs(rt):
    rt.start(UnitSpec("gone", (PY, "-c", "print('x')"), restart="never"))
    settle(rt, "gone", {UnitState.SUCCEEDED})
    rt.remove("gone")
    assert rt.status("gone") is None and rt.logs("gone") is None and rt.names() == []


def test_tail_returns_last_lines(rt):
    rt.start(UnitSpec("many", (PY, "-c", "for i in range(5): print(i)"), restart="never"))
    settle(rt, "many", {UnitState.SUCCEEDED})
    assert rt.logs("many", tail=2) == b"3\n4\n"


def _wait_log(rt, name, needle, timeout=10.0):
    deadline = time.monotonic() + timeout
    while needle not in (rt.logs(name) or b""):
        assert time.monotonic() < deadline, f"{name} never printed {needle!r}"
        time.sleep(0.02)
