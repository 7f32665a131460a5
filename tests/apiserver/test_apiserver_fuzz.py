"""Schemathesis against the server's own OpenAPI v3 documents: no generated request may cause a 5xx.

Bounded: a fixed number of derandomised cases per operation. The app runs in process over a store that
already holds a node, a pod, a deployment and a lease, so reads, patches and deletes can succeed too.
Watches are capped at a twentieth of a second so a generated `watch=true` cannot hang the run, and only
schemathesis' fuzzing phase runs (its coverage phase enumerates every boundary case and takes many minutes).
"""

from __future__ import annotations

import hypothesis
import orjson
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from berth.declarative.apiserver import create_app, openapi
from berth.declarative.apiserver.authn import trust_every_caller_as_admin
from berth.declarative.apiserver.kinds import BY_PLURAL
from berth.store import MemoryStore
from tests.apiserver.conftest import deployment, pod


def seeded_app():
    app = create_app(MemoryStore(), access=trust_every_caller_as_admin(), max_watch_seconds=0.05)
    reg = app.state.api.registry
    for plural, ns, body in [("nodes", "", {"metadata": {"name": "n1"}}), ("pods", "default", pod("p1")),
                             ("deployments", "default", deployment("web")),
                             ("leases", "default", {"metadata": {"name": "l1"}, "spec": {}})]:
        result = reg.create(BY_PLURAL[plural], ns, orjson.loads(orjson.dumps(body)))  # same admission as HTTP
        assert isinstance(result, tuple), result
    return app


APP = seeded_app()
SCHEMAS = {gv: schemathesis.openapi.from_asgi(f"/openapi/v3/{gv}", APP)
           for gv in ("api/v1", "apis/apps/v1", "apis/coordination.k8s.io/v1")}
for _schema in SCHEMAS.values():
    _schema.config.phases.update(phases=["fuzzing"])
SETTINGS = hypothesis.settings(max_examples=6, deadline=None, derandomize=True,
                               suppress_health_check=list(hypothesis.HealthCheck))


@SCHEMAS["api/v1"].parametrize()
@SETTINGS
def test_core_v1_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])


@SCHEMAS["apis/apps/v1"].parametrize()
@SETTINGS
def test_apps_v1_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])


@SCHEMAS["apis/coordination.k8s.io/v1"].parametrize()
@SETTINGS
def test_coordination_v1_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])


@pytest.mark.parametrize("gv", sorted(SCHEMAS))
def test_documents_declare_patch_with_field_validation(gv):
    """kubectl turns on server-side validation only when PATCH takes `fieldValidation` and names its kind."""
    doc = openapi.document(gv)
    patches = [op for path in doc["paths"].values() for verb, op in path.items() if verb == "patch"]
    assert patches and all("fieldValidation" in [p["name"] for p in op["parameters"]] for op in patches)
    assert all("application/strategic-merge-patch+json" in op["requestBody"]["content"] for op in patches)
