"""`berth up --plane centralised --demo`: a self-checking tour of the compute API.

Checks the door first: no token is a 401, and the demo member claiming `X-Roles: admin` a 403.
As the admin, creates a flavor; as the demo member, an anti-affinity server group and one server
per agent in the group plus one too many; shows where they went (and the NoValidHost fault of the extra one, with its
reasons), shows Placement's usages, deletes everything and checks the usages are back to zero.
Raises RuntimeError when a step does not do what it should.  Called by `berth.cli.up.up_centralised`.
"""

from __future__ import annotations

import time

import httpx
from rich.console import Console
from rich.table import Table

TIMEOUT = 120.0


def tour(console: Console, compute_url: str, placement_url: str, *, admin: str, member: str) -> None:
    """The tour, with the plane's admin and member tokens."""
    boss = httpx.Client(base_url=compute_url, timeout=30, headers={"X-Auth-Token": admin})
    api = httpx.Client(base_url=compute_url, timeout=30, headers={"X-Auth-Token": member})
    placement = httpx.Client(base_url=placement_url, timeout=30,
                             headers={"X-Auth-Token": admin, "OpenStack-API-Version": "placement 1.39"})
    _door(console, compute_url, api)
    services = boss.get("/os-services").json()["services"]
    _post(boss, "/flavors", {"flavor": {"id": "demo", "name": "demo.small", "vcpus": 1, "ram": 256, "disk": 1}})
    group = _post(api, "/os-server-groups", {"server_group": {"name": "demo", "policy": "anti-affinity"}})
    gid = group["server_group"]["id"]
    ids = [_post(api, "/servers", {"server": {"name": f"demo-{i}", "flavorRef": "demo"},
                                   "os:scheduler_hints": {"group": gid}})["server"]["id"]
           for i in range(len(services) + 1)]
    console.print(f"booted {len(ids)} servers in anti-affinity group {gid} over {len(services)} agents")
    servers = _settle(api, ids)
    _table(console, servers)
    active = [s for s in servers if s["status"] == "ACTIVE"]
    if len(active) != len(services) or len({s["OS-EXT-SRV-ATTR:host"] for s in active}) != len(services):
        raise RuntimeError("anti-affinity should have put exactly one server on each agent")
    _usages(console, placement, services)
    for sid in ids:
        api.delete(f"/servers/{sid}")
    _gone(api, ids)
    left = {s["host"]: _usage(placement, s) for s in services}
    if any(left.values()):
        raise RuntimeError(f"usages not released after deletes: {left}")
    console.print("[bold green]demo complete[/]: servers spread by the engine's anti-affinity filter, "
                  "claimed in Placement, run by the agents, deleted, and every allocation released")


def _door(console: Console, compute_url: str, api: httpx.Client) -> None:
    """No token: 401; the member's token with a forged admin role: 403."""
    anonymous = httpx.get(f"{compute_url}/servers", timeout=30).status_code
    forged = api.get("/os-services", headers={"X-Roles": "admin"}).status_code
    if (anonymous, forged) != (401, 403):
        raise RuntimeError(f"no token gave {anonymous} and a forged admin role {forged}, not 401 and 403")
    console.print("no token: 401; the demo member claiming X-Roles: admin: 403")


def _post(api: httpx.Client, path: str, body: dict) -> dict:
    resp = api.post(path, json=body)
    if resp.status_code >= 300:
        raise RuntimeError(f"POST {path}: {resp.status_code} {resp.text}")
    return resp.json()


def _settle(api: httpx.Client, ids: list[str]) -> list[dict]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        servers = [api.get(f"/servers/{i}").json()["server"] for i in ids]
        if all(s["status"] != "BUILD" for s in servers):
            return servers
        time.sleep(0.3)
    raise RuntimeError(f"servers still building after {TIMEOUT:.0f} s")


def _gone(api: httpx.Client, ids: list[str]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while any(api.get(f"/servers/{i}").status_code != 404 for i in ids):
        if time.monotonic() > deadline:
            raise RuntimeError("servers were not deleted in time")
        time.sleep(0.3)


def _table(console: Console, servers: list[dict]) -> None:
    table = Table("server", "status", "host", "fault")
    for s in servers:
        table.add_row(s["name"], s["status"], s["OS-EXT-SRV-ATTR:host"] or "-",
                      (s.get("fault") or {}).get("message", ""))
    console.print(table)


def _usage(placement: httpx.Client, service: dict) -> dict:
    usages = placement.get(f"/resource_providers/{service['berth:rp_uuid']}/usages").json()["usages"]
    return {rc: n for rc, n in usages.items() if n}


def _usages(console: Console, placement: httpx.Client, services: list[dict]) -> None:
    table = Table("agent", "resource provider", "usages (Placement)")
    for s in services:
        table.add_row(s["host"], s["berth:rp_uuid"], str(_usage(placement, s)))
    console.print(table)
