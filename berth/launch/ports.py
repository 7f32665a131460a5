"""Loopback ports for the processes a launcher starts: `free_port()` picks one the OS has not handed
out, `port_busy(port)` says whether something already listens there.  Used by the launchers in this
package, the benchmarks and the tests."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_busy(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
