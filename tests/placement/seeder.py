"""REST-only seeding helpers: build provider trees, inventories, traits and allocations over HTTP.

What upstream's functional fixtures write straight into their database, these write through
the public API (the same calls a deployer would make), so the upstream gabbi files that
expect seeded data can run unmodified against any live Placement server.  Inventories
created here default `max_unit` to `total`, as upstream's fixture helper does.
"""

from __future__ import annotations

import uuid as uuidlib

import httpx

SEED_VERSION = "placement 1.28"
"""Writes at 1.28: consumer generations exist, consumer types do not (type stays 'unknown')."""


class Seeder:
    """A thin client that fails loudly when a seeding call is refused."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"x-auth-token": "admin",
                                                        "openstack-api-version": SEED_VERSION})
        self._rcs: set[str] = set()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body=None, version: str | None = None) -> httpx.Response:  # noqa: ANN001
        headers = {"openstack-api-version": version} if version else None
        resp = self.http.request(method, path, json=body, headers=headers)
        if resp.status_code >= 400:
            raise RuntimeError(f"seeding {method} {path} failed: {resp.status_code} {resp.text}")
        return resp

    def provider(self, name: str, *aggs: str, uuid: str | None = None, parent: str | None = None) -> str:
        rp = uuid or str(uuidlib.uuid4())
        self._call("POST", "/resource_providers", {"name": name, "uuid": rp, "parent_provider_uuid": parent})
        if aggs:
            self.aggregates(rp, *aggs)
        return rp

    def aggregates(self, rp: str, *aggs: str) -> None:
        """Set aggregates without a generation bump (the pre-1.19 form), as a direct DB write would."""
        self._call("PUT", f"/resource_providers/{rp}/aggregates", list(aggs), version="placement 1.1")

    def resource_class(self, name: str) -> None:
        if name.startswith("CUSTOM_") and name not in self._rcs:
            self._call("PUT", f"/resource_classes/{name}", version="placement 1.7")
            self._rcs.add(name)

    def inventory(self, rp: str, rc: str, total: int, **fields) -> None:  # noqa: ANN003
        self.resource_class(rc)
        body = {"resource_class": rc, "total": total, "max_unit": fields.pop("max_unit", total), **fields}
        self._call("POST", f"/resource_providers/{rp}/inventories", body)

    def traits(self, rp: str, *names: str) -> None:
        for name in names:
            if name.startswith("CUSTOM_"):
                self._call("PUT", f"/traits/{name}")
        gen = self._call("GET", f"/resource_providers/{rp}").json()["generation"]
        self._call("PUT", f"/resource_providers/{rp}/traits",
                   {"traits": list(names), "resource_provider_generation": gen})

    def allocate(self, rp: str, resources: dict[str, int], project: str, user: str,
                 consumer: str | None = None) -> str:
        consumer = consumer or str(uuidlib.uuid4())
        self._call("PUT", f"/allocations/{consumer}", {
            "allocations": {rp: {"resources": resources}}, "project_id": project, "user_id": user,
            "consumer_generation": None})
        return consumer
