"""`python -m berth.declarative.apiserver --store sqlite:///state.db --port 6443`: run the API server alone."""

from __future__ import annotations

import argparse

from berth.declarative.apiserver import create_app, serve
from berth.store import open_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="berth's Kubernetes-compatible API server")
    parser.add_argument("--store", default="sqlite:///berth-state.db", help="memory:// or sqlite:///path.db")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6443)
    parser.add_argument("--sync", default="normal", choices=("normal", "full"),
                        help="SQLite durability: normal survives kill -9, full also survives power loss")
    parser.add_argument("--no-coalesce", dest="coalesce", action="store_false",
                        help="send each write as it comes instead of joining a loop turn's writes (to measure "
                             "what joining buys: berth bench declarative --no-coalesce)")
    args = parser.parse_args(argv)
    options = {"sync": args.sync, "group_commit": True} if not args.store.startswith("memory") else {}
    serve(create_app(open_store(args.store, **options)), args.host, args.port, coalesce=args.coalesce)


if __name__ == "__main__":
    main()
