"""Run the Placement API under uvicorn: `python -m berth.centralised.placement --port 8778 --db URL
--token-file tokens.json`.

Every request but the version document needs a token the token file lists
(`berth.centralised.tokens`); `--auth-strategy noauth2` (upstream's test mode: any token is
accepted) must be asked for by name.  With `--workers N` uvicorn starts N processes over the
same database (each builds its own index); the app factory reads the database URL, the
strategy and the token file's path from BERTH_PLACEMENT_DB, BERTH_PLACEMENT_AUTH and
BERTH_PLACEMENT_TOKENS.
"""

from __future__ import annotations

import argparse
import os

from berth.centralised.tokens import Authenticator, NoAuth2, TokenFile
from berth.web import Limits, serve

ENV_DB = "BERTH_PLACEMENT_DB"
ENV_AUTH = "BERTH_PLACEMENT_AUTH"
ENV_TOKENS = "BERTH_PLACEMENT_TOKENS"
STRATEGIES = ("token-file", "noauth2")


def authenticator() -> Authenticator:
    """The strategy the environment names: the token file unless noauth2 is asked for."""
    if os.environ.get(ENV_AUTH) == "noauth2":
        return NoAuth2()
    return TokenFile.load(os.environ[ENV_TOKENS])


def app_factory():  # noqa: ANN201 - uvicorn factory
    from berth.centralised.placement.service import PlacementService
    return PlacementService(os.environ.get(ENV_DB, "sqlite:///placement.db"), auth=authenticator()).app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="berth Placement API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8778)
    parser.add_argument("--db", default="sqlite:///placement.db", help="SQLAlchemy URL (sqlite or postgresql)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--auth-strategy", choices=STRATEGIES, default="token-file",
                        help="token-file (default) or noauth2 (upstream's test mode: any token passes)")
    parser.add_argument("--token-file", help="JSON table of accepted tokens (berth.centralised.tokens)")
    args = parser.parse_args(argv)
    if args.auth_strategy == "token-file" and not args.token_file:
        parser.error("--token-file is required (or ask for --auth-strategy noauth2 by name)")
    os.environ.update({ENV_DB: args.db, ENV_AUTH: args.auth_strategy, ENV_TOKENS: args.token_file or ""})
    from berth.centralised.placement.service import PlacementService
    PlacementService(args.db, auth=authenticator())  # create schema and vocabulary once, before workers race to
    from berth.centralised.placement.app import MAX_BODY
    serve("berth.centralised.placement.server:app_factory", args.host, args.port, factory=True,
          workers=args.workers, limits=Limits(max_body_bytes=MAX_BODY))


if __name__ == "__main__":
    main()
