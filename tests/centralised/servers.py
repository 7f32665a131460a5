"""Test helpers: serve an ASGI app on a free loopback port in a thread, and start subprocesses."""

from __future__ import annotations

import contextlib
import threading
import time

import uvicorn

from berth.launch.ports import free_port


@contextlib.contextmanager
def serve(app, port: int | None = None):
    """Run `app` with uvicorn on 127.0.0.1 in a thread; yields its base URL; stops on exit."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
