"""`PlacementClient`: the calls the scheduler, conductor and agents make to the Placement API.

A thin, synchronous wrapper over an `httpx.Client` (a real socket, or an in-process transport
in tests) that speaks microversion 1.38/1.39 with the caller's token (the plane's service
token: `berth.centralised.tokens.read_token`).  Expected outcomes
come back as values: `claim` returns a `Claim` (ok, or the status and Placement error code such
as `placement.concurrent_update`), `delete_allocations` a bool.  Transport failures and 5xx
raise `PlacementError`.  Provider writes (`put_inventories`, `put_aggregates`, `put_traits`)
are generation-checked compare-and-swaps retried a bounded number of times.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

VERSION = "placement 1.39"
CONSUMER_TYPE = "INSTANCE"
CAS_RETRIES = 8


class PlacementError(Exception):
    """Placement could not be reached, or answered something unexpected (a bug or an outage)."""


@dataclass(frozen=True)
class Claim:
    ok: bool
    status: int = 204
    code: str = ""
    detail: str = ""


class PlacementClient:
    def __init__(self, http: httpx.Client | str, token: str) -> None:
        self.http = httpx.Client(base_url=http, timeout=30) if isinstance(http, str) else http
        self.headers = {"X-Auth-Token": token, "OpenStack-API-Version": VERSION, "Accept": "application/json"}

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        try:
            resp = self.http.request(method, path, headers=self.headers, **kw)
        except httpx.HTTPError as err:
            raise PlacementError(f"{method} {path}: {err!r}") from err
        if resp.status_code >= 500:
            raise PlacementError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp

    def _json(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kw) -> dict:
        resp = self._call(method, path, **kw)
        if resp.status_code not in ok:
            raise PlacementError(f"{method} {path}: {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else {}

    # ---- scheduling ----------------------------------------------------------------------
    def allocation_candidates(self, params: list[tuple[str, str]]) -> dict:
        return self._json("GET", "/allocation_candidates", params=params)

    def claim(self, consumer: str, allocations: dict, project_id: str, user_id: str,
              generation: int | None = None) -> Claim:
        """PUT /allocations/{consumer}; a 409 (capacity or generation) is a lost claim, not an error.

        A consumer Placement still knows without allocations (its generation moved past `None`)
        is claimed again with the generation read back, a bounded number of times."""
        for _ in range(CAS_RETRIES):
            claim = self._put_allocations(consumer, allocations, project_id, user_id, generation)
            if claim.ok or claim.code != "placement.concurrent_update":
                return claim
            current = self.allocations(consumer)
            if current.get("allocations") or current.get("consumer_generation") == generation:
                return claim
            generation = current.get("consumer_generation")
        return claim

    def _put_allocations(self, consumer: str, allocations: dict, project_id: str, user_id: str,
                         generation: int | None) -> Claim:
        body = {"allocations": allocations, "consumer_generation": generation, "project_id": project_id,
                "user_id": user_id, "consumer_type": CONSUMER_TYPE}
        resp = self._call("PUT", f"/allocations/{consumer}", json=body)
        if resp.status_code == 204:
            return Claim(True)
        err = _first_error(resp)
        return Claim(False, resp.status_code, err.get("code", ""), err.get("detail", resp.text[:300]))

    def allocations(self, consumer: str) -> dict:
        return self._json("GET", f"/allocations/{consumer}")

    def delete_allocations(self, consumer: str) -> bool:
        """Remove every allocation of `consumer`; False if it had none."""
        resp = self._call("DELETE", f"/allocations/{consumer}")
        if resp.status_code not in (204, 404):
            raise PlacementError(f"DELETE /allocations/{consumer}: {resp.status_code} {resp.text[:300]}")
        return resp.status_code == 204

    # ---- providers -----------------------------------------------------------------------
    def provider(self, uuid: str) -> dict | None:
        resp = self._call("GET", f"/resource_providers/{uuid}")
        return resp.json() if resp.status_code == 200 else None

    def providers(self) -> list[dict]:
        return self._json("GET", "/resource_providers")["resource_providers"]

    def ensure_provider(self, uuid: str, name: str) -> dict:
        """The provider `uuid`, created with `name` if missing."""
        found = self.provider(uuid)
        if found is not None:
            return found
        resp = self._call("POST", "/resource_providers", json={"uuid": uuid, "name": name})
        if resp.status_code not in (200, 201, 409):
            raise PlacementError(f"POST /resource_providers: {resp.status_code} {resp.text[:300]}")
        return self.provider(uuid) or {}

    def inventories(self, uuid: str) -> dict:
        return self._json("GET", f"/resource_providers/{uuid}/inventories")

    def usages(self, uuid: str) -> dict:
        return self._json("GET", f"/resource_providers/{uuid}/usages")["usages"]

    def put_inventories(self, uuid: str, inventories: dict) -> dict:
        return self._cas_put(f"/resource_providers/{uuid}/inventories", uuid, {"inventories": inventories})

    def put_aggregates(self, uuid: str, aggregates: list[str]) -> dict:
        return self._cas_put(f"/resource_providers/{uuid}/aggregates", uuid, {"aggregates": aggregates})

    def traits(self, uuid: str) -> list[str]:
        return self._json("GET", f"/resource_providers/{uuid}/traits")["traits"]

    def put_traits(self, uuid: str, traits: list[str]) -> dict:
        return self._cas_put(f"/resource_providers/{uuid}/traits", uuid, {"traits": traits})

    def _cas_put(self, path: str, uuid: str, body: dict) -> dict:
        """PUT with the provider's current generation; re-read and retry on a generation conflict."""
        for _ in range(CAS_RETRIES):
            current = self.provider(uuid)
            if current is None:
                raise PlacementError(f"resource provider {uuid} vanished")
            resp = self._call("PUT", path, json=dict(body, resource_provider_generation=current["generation"]))
            if resp.status_code == 200:
                return resp.json()
            if resp.status_code != 409:
                raise PlacementError(f"PUT {path}: {resp.status_code} {resp.text[:300]}")
        raise PlacementError(f"PUT {path}: generation kept changing after {CAS_RETRIES} tries")


def _first_error(resp: httpx.Response) -> dict:
    try:
        return (resp.json().get("errors") or [{}])[0]
    except ValueError:
        return {}
