"""The fake runtime follows the same contract on a virtual clock, cheaply enough for thousands of units."""

from __future__ import annotations

import pytest

from berth.runtime import FakeRuntime, ManualClock, Runtime, UnitSpec, UnitState


@pytest.fixture
def rt():
    return FakeRuntime(ManualClock(), backoff=1.0, max_backoff=4.0)


def test_it_is_a_runtime(rt):
    assert isinstance(rt, Runtime)


def test_runs_until_exit_after_then_succeeds(rt):
    rt.start(UnitSpec("job", ("true",), restart="never", options={"exit-after": "5"}))
    assert [s.state for s in rt.sync()] == [UnitState.RUNNING]
    rt.clock.advance(4.9)
    assert rt.sync() == []
    rt.clock.advance(0.1)
    [status] = rt.sync()
    assert status.state is UnitState.SUCCEEDED and status.exit_code == 0


def test_failure_restarts_with_doubling_backoff(rt):
    rt.start(UnitSpec("crash", ("false",), restart="on-failure", options={"exit-after": "1", "exit-code": "1"}))
    timeline = []
    for _ in range(12):
        rt.clock.advance(1)
        rt.sync()
        timeline.append((rt.status("crash").state.value, rt.status("crash").restarts))
    # exits at t=1, back-off 1 -> restart at 2, exits at 3, back-off 2 -> restart at 5, exits at 6, back-off 4 -> 10
    assert timeline[:6] == [("waiting", 0), ("running", 1), ("waiting", 1), ("waiting", 1), ("running", 2),
                            ("waiting", 2)]
    assert timeline[9] == ("running", 3)


def test_stop_takes_stop_after_capped_by_grace(rt):
    rt.start(UnitSpec("svc", ("x",), options={"stop-after": "10"}))
    rt.stop("svc", grace=3)
    assert rt.status("svc").state is UnitState.STOPPING
    rt.clock.advance(3)
    rt.sync()
    assert rt.status("svc").state is UnitState.STOPPED


def test_bad_option_is_rejected_with_its_name(rt):
    with pytest.raises(ValueError, match="exit-after"):
        rt.start(UnitSpec("oops", ("x",), options={"exit-after": "soon"}))


def test_ten_thousand_units_sync_cheaply(rt):
    for i in range(10_000):
        rt.start(UnitSpec(f"u{i}", ("x",), restart="never", options={"exit-after": str(i % 7 + 1)}))
    rt.sync()
    rt.clock.advance(1)
    assert len(rt.sync()) == 10_000 // 7 + 1
    rt.clock.advance(10)
    rt.sync()
    assert all(rt.status(n).state is UnitState.SUCCEEDED for n in rt.names())


def test_logs_name_the_run(rt):
    rt.start(UnitSpec("l", ("x",)))
    assert b"fake unit l run 0" in rt.logs("l")
    assert rt.logs("missing") is None
