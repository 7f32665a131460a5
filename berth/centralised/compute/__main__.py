"""Serve the compute API: `python -m berth.centralised.compute --db sqlite:///c.db --port 8774`.

Started by `berth up --plane centralised`; binds 127.0.0.1 only; `--token-file` names the
table of tokens it accepts (`berth.centralised.tokens`); `--service-token-file` the token it
reads console logs from compute agents with.
"""

from __future__ import annotations

import argparse

from berth.centralised.compute.api import SERVICE_DOWN_TIME, create_app
from berth.centralised.compute.db import Repo
from berth.centralised.tokens import TokenFile, read_token
from berth.web import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m berth.centralised.compute")
    p.add_argument("--db", default="sqlite:///berth-compute.db", help="SQLAlchemy URL of the compute database")
    p.add_argument("--port", type=int, default=8774)
    p.add_argument("--service-down-time", type=float, default=SERVICE_DOWN_TIME)
    p.add_argument("--token-file", required=True, help="JSON table of accepted tokens")
    p.add_argument("--service-token-file", help="the token agents accept for console reads (os-getConsoleOutput)")
    args = p.parse_args(argv)
    token = read_token(args.service_token_file) if args.service_token_file else None
    app = create_app(Repo(args.db), service_down_time=args.service_down_time, tokens=TokenFile.load(args.token_file),
                     agent_token=token)
    serve(app, "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
