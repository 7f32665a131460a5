"""`eventually`: poll a condition over real time, for the declarative plane's socket tests."""

from __future__ import annotations

import time


def eventually(check, timeout: float, interval: float = 0.1):
    """`check()`'s first truthy value; fails the test if none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(interval)
