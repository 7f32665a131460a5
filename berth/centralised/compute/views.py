"""JSON views of compute rows, in Nova's wire shapes (server, flavor, group, zone, service).

Pure functions from `Repo` rows (plus the clock's `now` where liveness matters) to dicts; the
API returns them unchanged.  Imported by `compute.routes`.
"""

from __future__ import annotations

from berth.centralised.compute.db import Row
from berth.model.timestamps import rfc3339


def link(kind: str, ident: str) -> list[dict]:
    return [{"rel": "self", "href": f"/{kind}/{ident}"}]


def flavor(row: Row) -> dict:
    return {"id": row["id"], "name": row["name"], "vcpus": row["vcpus"], "ram": row["ram"],
            "disk": row["disk"], "extra_specs": dict(row.get("extra_specs") or {}),
            "links": link("flavors", row["id"])}


def server_brief(row: Row) -> dict:
    return {"id": row["id"], "name": row["name"], "links": link("servers", row["id"])}


def host_status(service: Row, now: float, down_after: float) -> str:
    if now - service["last_seen"] > down_after:
        return "DOWN"
    return "MAINTENANCE" if service["disabled"] else "UP"


def server(row: Row, hosts: dict[str, tuple[str, str]] | None = None) -> dict:
    """A server in Nova's detail shape.  `hosts` maps a host to (host_status, zone): a placed
    server shows its host's `host_status` (microversion 2.16) and zone, as Nova's do."""
    status, zone = (hosts or {}).get(row["host"] or "", ("UNKNOWN", ""))
    body = dict(server_brief(row), **{
        "status": row["status"],
        "OS-EXT-STS:task_state": row["task_state"],
        "OS-EXT-SRV-ATTR:host": row["host"],
        "OS-EXT-SRV-ATTR:hypervisor_hostname": row["host"],
        "OS-EXT-AZ:availability_zone": row["availability_zone"] or (zone if row["host"] else ""),
        "flavor": {k: row["flavor"][k] for k in ("id", "name", "vcpus", "ram", "disk")},
        "tenant_id": row["project_id"], "user_id": row["user_id"],
        "server_groups": [row["group_id"]] if row["group_id"] else [],
        "created": rfc3339(row["created"]), "updated": rfc3339(row["updated"]),
        "berth:attempts": row["attempts"],
        "berth:tried_hosts": list(row["tried_hosts"] or []),
    })
    if row["host"]:
        body["host_status"] = status
    if row["fault"]:
        body["fault"] = dict(row["fault"])
    return body


def group(row: Row, members: list[str]) -> dict:
    return {"id": row["id"], "name": row["name"], "policy": row["policy"],
            "rules": dict(row["rules"] or {}), "members": members,
            "project_id": row["project_id"]}


def service(row: Row, now: float, down_after: float) -> dict:
    up = now - row["last_seen"] <= down_after
    return {"host": row["host"], "binary": "berth-compute", "zone": row["availability_zone"],
            "status": "disabled" if row["disabled"] else "enabled", "state": "up" if up else "down",
            "updated_at": rfc3339(row["last_seen"]), "berth:url": row["url"], "berth:rp_uuid": row["rp_uuid"]}


def zones(rows: list[Row], now: float, down_after: float, detail: bool) -> list[dict]:
    """One entry per zone; available if any enabled agent in it is up (with hosts if `detail`)."""
    out: dict[str, dict] = {}
    for row in rows:
        up = now - row["last_seen"] <= down_after
        zone = out.setdefault(row["availability_zone"], {
            "zoneName": row["availability_zone"], "zoneState": {"available": False},
            "hosts": {} if detail else None})
        zone["zoneState"]["available"] |= up and not row["disabled"]
        if detail:
            zone["hosts"][row["host"]] = {"berth-compute": {
                "available": up, "active": not row["disabled"], "updated_at": rfc3339(row["last_seen"])}}
    return list(out.values())
