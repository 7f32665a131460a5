"""The controllers' work queue on a virtual clock: de-duplication, one worker per key, back-off."""

from __future__ import annotations

from berth.declarative.client import WorkQueue
from berth.runtime import ManualClock


def test_a_key_is_queued_once():
    q = WorkQueue(ManualClock())
    q.add("a"), q.add("b"), q.add("a")
    assert [q.get(0), q.get(0), q.get(0)] == ["a", "b", None]


def test_a_key_added_while_processing_comes_back_after_done():
    q = WorkQueue(ManualClock())
    q.add("a")
    assert q.get(0) == "a"
    q.add("a")
    assert q.get(0) is None, "never handed to two workers at once"
    q.done("a")
    assert q.get(0) == "a"


def test_retry_backs_off_exponentially_and_forget_resets():
    clock = ManualClock()
    q = WorkQueue(clock, base=1.0, cap=4.0)
    delays = []
    for _ in range(4):
        delays.append(q.retry("a"))
        assert q.get(0) is None
        clock.advance(delays[-1])
        assert q.get(0) == "a"
        q.done("a")
    assert delays == [1.0, 2.0, 4.0, 4.0]
    q.forget("a")
    assert q.retry("a") == 1.0


def test_close_releases_waiters():
    q = WorkQueue(ManualClock())
    q.close()
    assert q.get(timeout=None) is None
