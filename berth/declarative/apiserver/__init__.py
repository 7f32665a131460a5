"""A Kubernetes-compatible API server (a subset of kube-apiserver) over a berth `Store`.

    from berth.store import open_store
    from berth.declarative.apiserver import create_app, serve
    app = create_app(open_store("sqlite:///state.db"))      # an ASGI app (Starlette)
    serve(app, host="127.0.0.1", port=6443)                  # blocking; or: python -m berth.declarative.apiserver

Modules: kinds (the KINDS table), app (routing), handlers and subresources (HTTP), registry (CRUD over the
store, no HTTP), watch (fan-out), codec/schema/defaults/validation (admission; quantities are parsed by the
shared `berth.declarative.quantity`), patch, tables, discovery, openapi, logs (the pods/log hook). Callers:
`berth up`, tests, benchmarks.
"""

from __future__ import annotations

from berth.declarative.apiserver.app import Api, create_app
from berth.declarative.apiserver.logs import LOG_ENDPOINT_ANNOTATION, AgentLogProxy, LogSource


def serve(app, host: str = "127.0.0.1", port: int = 6443, **kwargs) -> None:
    """Run `app` with `berth.web.serve` until interrupted (`kwargs`: its `tls`, `limits`, `coalesce`...),
    with the garbage collector tuned for the API server's allocation-heavy request path."""
    import gc

    from berth import web

    gc.collect()
    gc.freeze()  # the schemas and tables built at start-up never need scanning again
    gc.set_threshold(50_000, 20, 20)  # fewer young collections on the allocation-heavy request path
    web.serve(app, host, port, **kwargs)


__all__ = ["Api", "AgentLogProxy", "LOG_ENDPOINT_ANNOTATION", "LogSource", "create_app", "serve"]
