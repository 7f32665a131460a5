"""Run one compute agent: `python -m berth.centralised.agent --host h1 --port 9101 ...`.

Serves the agent API with uvicorn on 127.0.0.1, registers with Placement and the compute API
once listening, then heartbeats and syncs its runtime until stopped (SIGTERM/SIGINT stop its
servers too).  `--token-file` is the table of tokens it accepts (the conductor's alone);
`--service-token-file` holds the token it sends to Placement and the compute API.  Started by
`berth up --plane centralised` and by the end-to-end tests.
"""

from __future__ import annotations

import argparse
import signal
import threading

import httpx
import uvicorn

from berth.centralised.agent.app import CONSOLE_READER, create_app
from berth.centralised.agent.inventory import HostResources
from berth.centralised.agent.service import ComputeAgent
from berth.centralised.clients.placement import PlacementClient, PlacementError
from berth.centralised.tokens import HEADER, TokenFile, read_token
from berth.runtime import RUNTIMES
from berth.web import server as web_server


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m berth.centralised.agent")
    p.add_argument("--host", required=True, help="compute host name (RFC 1123)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--placement", required=True, help="Placement URL")
    p.add_argument("--compute", required=True, help="compute API URL")
    p.add_argument("--zone", default="nova")
    p.add_argument("--vcpus", type=int, default=8)
    p.add_argument("--ram", type=int, default=16384, help="MiB")
    p.add_argument("--disk", type=int, default=100, help="GiB")
    p.add_argument("--reserved-ram", type=int, default=512, help="MiB kept for the host")
    p.add_argument("--cpu-ratio", type=float, default=4.0)
    p.add_argument("--runtime", choices=sorted(RUNTIMES), default="process")
    p.add_argument("--heartbeat", type=float, default=10.0, help="seconds between service reports")
    p.add_argument("--token-file", required=True, help="JSON table of accepted tokens (the conductor's)")
    p.add_argument("--service-token-file", required=True, help="the token sent to Placement and the compute API "
                   "(and accepted for console reads alone)")
    return p.parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    url = f"http://127.0.0.1:{args.port}"
    resources = HostResources(args.vcpus, args.ram, args.disk, cpu_allocation_ratio=args.cpu_ratio,
                              reserved_host_memory_mb=args.reserved_ram)
    token = read_token(args.service_token_file)
    agent = ComputeAgent(args.host, url, resources, RUNTIMES[args.runtime](), PlacementClient(args.placement, token),
                         httpx.Client(base_url=args.compute, timeout=30, headers={HEADER: token}), zone=args.zone)
    app = create_app(agent, tokens=TokenFile.load(args.token_file),
                     console_tokens=TokenFile.of({token: CONSOLE_READER}))
    server = web_server(app, "127.0.0.1", args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, _exit)
    loop = threading.Thread(target=_loop, args=(agent, server, stop, args.heartbeat), daemon=True)
    loop.start()
    try:
        server.run()
    finally:
        stop.set()
        loop.join(timeout=5)
        agent.close()


def _exit(*_args) -> None:
    """uvicorn re-raises SIGTERM after its shutdown; exit through `finally` so servers stop too."""
    raise SystemExit(0)


def _loop(agent: ComputeAgent, server: uvicorn.Server, stop: threading.Event, every: float) -> None:
    while not server.started and not stop.wait(0.05):
        pass
    for _ in range(100):
        try:
            agent.register()
            break
        except (httpx.HTTPError, PlacementError):
            if stop.wait(0.2):
                return
    beats = 0.0
    while not stop.wait(0.5):
        agent.sync()
        beats += 0.5
        if beats >= every:
            beats = 0.0
            try:
                agent.heartbeat()
            except httpx.HTTPError:
                pass


if __name__ == "__main__":
    serve(parse())
