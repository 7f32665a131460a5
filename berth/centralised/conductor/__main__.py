"""Run a conductor: `python -m berth.centralised.conductor --db ... --placement URL --scheduler URL`.

Polls the compute database for builds and deletes until SIGTERM/SIGINT.  Sends the token in
`--service-token-file` to Placement and the schedulers, and its own, `--agent-token-file`, to
the agents (the only token they accept).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from berth.centralised.clients.placement import PlacementClient
from berth.centralised.compute.db import Repo
from berth.centralised.conductor.clients import AgentClient, HttpScheduler
from berth.centralised.conductor.service import Conductor, run
from berth.centralised.tokens import read_token
from berth.runtime.clock import SystemClock


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m berth.centralised.conductor")
    p.add_argument("--db", required=True, help="SQLAlchemy URL of the compute database")
    p.add_argument("--placement", required=True)
    p.add_argument("--scheduler", action="append", required=True, help="scheduler URL (repeat for several)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between polls")
    p.add_argument("--service-token-file", required=True, help="the token sent to Placement and the schedulers")
    p.add_argument("--agent-token-file", required=True, help="the conductor's own token, sent to the agents")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = read_token(args.service_token_file)
    conductor = Conductor(Repo(args.db), PlacementClient(args.placement, service),
                          HttpScheduler(args.scheduler, service), SystemClock(),
                          agents=AgentClient(read_token(args.agent_token_file)), workers=args.workers)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        run(conductor, stop, args.interval)
    finally:
        conductor.close()


if __name__ == "__main__":
    main()
