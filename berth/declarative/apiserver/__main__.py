"""`python -m berth.declarative.apiserver --store sqlite:///state.db --port 6443 --tls-cert-file ...`: run the
API server alone.

It serves HTTPS (`--tls-cert-file`, `--tls-private-key-file`) unless `--insecure` asks for plain HTTP, and
refuses to start with neither.  Authentication and authorisation apply either way: client certificates
(with `--client-ca-file`), the static token file (`--token-auth-file`) and ServiceAccount tokens (with
`--service-account-key-file`), then the node authorizer and RBAC.  `berth up` starts it (berth.launch).
"""

from __future__ import annotations

import argparse
import sys

from berth.declarative.apiserver import create_app, rbac, serve
from berth.declarative.apiserver.access import Chain
from berth.declarative.apiserver.authn import ClientCertificates, ServiceAccountTokens, TokenFile
from berth.declarative.apiserver.logs import AgentLogProxy
from berth.declarative.apiserver.noderestriction import NodeAuthorizer
from berth.declarative.apiserver.serviceaccounts import Issuer
from berth.store import open_store

NEEDS_TLS = ("refusing to serve plain HTTP: give --tls-cert-file and --tls-private-key-file, or --insecure"
             " (authentication and authorisation still apply)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="berth's Kubernetes-compatible API server")
    p.add_argument("--store", default="sqlite:///berth-state.db", help="memory:// or sqlite:///path.db")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6443)
    p.add_argument("--sync", default="normal", choices=("normal", "full"),
                   help="SQLite durability: normal survives kill -9, full also survives power loss")
    p.add_argument("--no-coalesce", dest="coalesce", action="store_false",
                   help="send each write as it comes instead of joining a loop turn's writes (to measure "
                        "what joining buys: berth bench declarative --no-coalesce)")
    p.add_argument("--tls-cert-file", help="the serving certificate (PEM; with its chain)")
    p.add_argument("--tls-private-key-file", help="the serving certificate's key (PEM)")
    p.add_argument("--client-ca-file", help="accept client certificates signed by this CA (CN = user, O = groups)")
    p.add_argument("--token-auth-file", help='static bearer tokens, CSV: token,user,uid,"group1,group2"')
    p.add_argument("--service-account-key-file", help="EC key (PEM) that signs and verifies ServiceAccount tokens")
    p.add_argument("--kubelet-token-file", help="the bearer token sent to the node agents' log endpoints")
    p.add_argument("--insecure", action="store_true", help="serve plain HTTP (authentication and authorisation"
                                                             " still apply)")
    p.add_argument("--max-watches-per-user", type=int, default=100, help="open watches per user (429 past it)")
    return p


def authenticators(args, store, issuer: Issuer | None) -> list:
    """Client certificates, then the token file, then ServiceAccount tokens: those the flags configure."""
    found: list = []
    if args.client_ca_file:
        found.append(ClientCertificates())
    if args.token_auth_file:
        found.append(TokenFile.from_file(args.token_auth_file))
    if issuer is not None:
        found.append(ServiceAccountTokens(issuer, store))
    return found


def read_secret(path: str | None) -> str | None:
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip() or None


def log_proxy(kubelet_token: str | None) -> AgentLogProxy:
    """The pods/log proxy, sending `kubelet_token` to the agents' log endpoints."""
    return AgentLogProxy(token=kubelet_token)


def build(args):
    """The app (and its store) that `args` describe; raises OSError or ValueError for unreadable files."""
    from berth.declarative.apiserver import bootstrap

    options = {"sync": args.sync, "group_commit": True} if not args.store.startswith("memory") else {}
    store = open_store(args.store, **options)
    issuer = Issuer.from_file(args.service_account_key_file) if args.service_account_key_file else None
    chain = Chain(authenticators(args, store, issuer), [NodeAuthorizer(store), rbac.RBACAuthorizer(store)])
    app = create_app(store, access=chain, issuer=issuer, max_watches=args.max_watches_per_user,
                     log_source=log_proxy(read_secret(args.kubelet_token_file)))
    bootstrap.ensure_defaults(app.api.registry)
    return app


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not args.insecure and not (args.tls_cert_file and args.tls_private_key_file):
        sys.exit(f"berth apiserver: {NEEDS_TLS}")
    from berth import web

    try:
        app = build(args)
    except (OSError, ValueError) as err:  # the messages name files and lines, never their contents
        sys.exit(f"berth apiserver: {err}")
    tls = None if args.insecure else web.TLSFiles(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
    serve(app, args.host, args.port, tls=tls, coalesce=args.coalesce)


if __name__ == "__main__":
    main()
