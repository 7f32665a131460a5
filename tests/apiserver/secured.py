"""The API server as `berth up` runs it, for the tests that drive it with real clients (kubectl, the official
Python client): its own process, serving TLS with the cluster's PKI, authentication and RBAC, and the
administrator's credentials to talk to it (a kubeconfig with the CA and a client certificate embedded).
"""

from __future__ import annotations

import contextlib

import httpx

from berth.launch.declarative import LocalCluster


@contextlib.contextmanager
def api_server():
    """A started API server alone (no agents, controllers or scheduler), stopped afterwards."""
    cluster = LocalCluster(nodes=0, runtime="fake", controllers=False, start_scheduler=False).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def admin_http(cluster: LocalCluster) -> httpx.Client:
    """An httpx client of the administrator: verifies the server with the CA, presents the client certificate."""
    return httpx.Client(base_url=cluster.url, verify=cluster.admin.ssl_context(), timeout=30)
