"""Schemathesis against the compute API's own OpenAPI document: no input may cause a 5xx.

Bounded: a fixed number of generated cases per operation, derandomised so a run is repeatable.
The app runs in process on a seeded database (a flavor, a group, a service) so creates can
succeed as well as fail; every call carries the admin's token, so the fuzzing reaches the handlers.
"""

from __future__ import annotations

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error

from berth.centralised.compute.api import create_app
from berth.centralised.compute.db import Repo
from berth.runtime.clock import ManualClock
from tests.centralised.creds import ADMIN, TOKENS


def seeded_app():
    repo = Repo()
    repo.create_flavor({"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "extra_specs": {}})
    repo.create_group({"id": "6b6d1b8a-5c8b-4c36-a1a8-8f1d1a0d0c01", "name": "g", "policy": "anti-affinity",
                       "rules": {}, "project_id": "admin"})
    repo.report_service("h1", {"url": "http://127.0.0.1:9", "rp_uuid": "6f1c1b8e-5a3e-4d2b-9a53-0c6b8f6d2a11",
                               "availability_zone": "nova", "disabled": False, "last_seen": 1_000_000.0})
    return create_app(repo, ManualClock(), tokens=TOKENS)


schema = schemathesis.openapi.from_asgi("/openapi.json", seeded_app())


@schema.parametrize()
@hypothesis.settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(headers={"X-Auth-Token": ADMIN}, checks=[not_a_server_error])
