"""Run the Placement API under uvicorn: `python -m berth.centralised.placement --port 8778 --db URL`.

With `--workers N` uvicorn starts N processes over the same database (each builds its own
index); the app factory reads the database URL from BERTH_PLACEMENT_DB.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

ENV_DB = "BERTH_PLACEMENT_DB"


def app_factory():  # noqa: ANN201 - uvicorn factory
    from berth.centralised.placement.service import PlacementService
    return PlacementService(os.environ.get(ENV_DB, "sqlite:///placement.db")).app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="berth Placement API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8778)
    parser.add_argument("--db", default="sqlite:///placement.db", help="SQLAlchemy URL (sqlite or postgresql)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    os.environ[ENV_DB] = args.db
    from berth.centralised.placement.service import PlacementService
    PlacementService(args.db)  # create schema and vocabulary once, before workers race to
    uvicorn.run("berth.centralised.placement.server:app_factory", factory=True, host=args.host,
                port=args.port, workers=args.workers, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
