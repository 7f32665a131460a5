"""Concurrent claims over a real socket: several threads race for one provider's capacity.

Every claim is a generation-checked SQL transaction, so however the race goes, exactly
`capacity` claims win and the provider is never over-allocated.
"""

from __future__ import annotations

import concurrent.futures as cf
import uuid

import httpx

from tests.centralised.creds import ADMIN
from tests.placement.live import LiveServer

HEADERS = {"x-auth-token": ADMIN, "openstack-api-version": "placement 1.39"}


def test_racing_claims_never_over_allocate(db_url):
    server = LiveServer(db_url).start()
    try:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
            rp = http.post("/resource_providers", json={"name": "cn"}).json()["uuid"]
            http.put(f"/resource_providers/{rp}/inventories", json={
                "resource_provider_generation": 0,
                "inventories": {"VCPU": {"total": 6, "reserved": 1, "allocation_ratio": 2.0}}})

        def one_claim(_i: int) -> int:
            with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as c:
                return c.put(f"/allocations/{uuid.uuid4()}", json={
                    "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u",
                    "consumer_generation": None, "consumer_type": "INSTANCE"}).status_code

        with cf.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one_claim, range(16)))
        assert sorted(codes) == [204] * 10 + [409] * 6
        with httpx.Client(base_url=server.url, headers=HEADERS) as http:
            assert http.get(f"/resource_providers/{rp}/usages").json()["usages"]["VCPU"] == 10
    finally:
        server.stop()
