"""Serve a scheduler: `python -m berth.centralised.scheduler --db ... --placement URL --port 8775`.

Several may run at once over one Placement and one compute database; claims settle races.
`--token-file` is the table of tokens it accepts; `--service-token-file` holds the token it
sends to Placement (`berth.centralised.tokens`).
"""

from __future__ import annotations

import argparse

from berth.centralised.clients.placement import PlacementClient
from berth.centralised.compute.api import SERVICE_DOWN_TIME
from berth.centralised.compute.db import Repo
from berth.centralised.scheduler.app import create_app
from berth.centralised.scheduler.manager import Scheduler, repo_hosts
from berth.centralised.scheduler.select import SchedulerConfig
from berth.centralised.scheduler.weighing import MULTIPLIERS, WeigherConfig, multipliers
from berth.centralised.tokens import TokenFile, read_token
from berth.runtime.clock import SystemClock
from berth.web import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m berth.centralised.scheduler")
    p.add_argument("--db", required=True, help="SQLAlchemy URL of the compute database (services are read)")
    p.add_argument("--placement", required=True)
    p.add_argument("--port", type=int, default=8775)
    p.add_argument("--host-subset-size", type=int, default=1)
    p.add_argument("--max-attempts", type=int, default=3)
    p.add_argument("--max-placement-results", type=int, default=1000)
    p.add_argument("--service-down-time", type=float, default=SERVICE_DOWN_TIME)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--multiplier", action="append", default=[], metavar="WEIGHER=VALUE",
                   help=f"a weigher multiplier, one of {', '.join(MULTIPLIERS)} (repeatable)")
    p.add_argument("--token-file", required=True, help="JSON table of accepted tokens")
    p.add_argument("--service-token-file", required=True, help="the token sent to Placement")
    args = p.parse_args(argv)
    try:
        weighers = WeigherConfig(**multipliers(args.multiplier))
    except ValueError as err:
        p.error(str(err))
    config = SchedulerConfig(args.max_placement_results, args.host_subset_size, args.max_attempts, weighers)
    hosts = repo_hosts(Repo(args.db), SystemClock(), args.service_down_time)
    placement = PlacementClient(args.placement, read_token(args.service_token_file))
    app = create_app(Scheduler(placement, hosts, config, seed=args.seed), tokens=TokenFile.load(args.token_file))
    serve(app, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
