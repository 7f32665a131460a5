"""The compute API's routes: flavors, servers, server groups, availability zones, services.

`ROUTES` is the table `compute.api.create_app` serves (and documents): path, method, handler,
the JSON Schema of the body, the success status and the role rule a caller must meet
(`guard.RULES`: members manage servers and groups, admins flavors and services, compute agents
report themselves with the service token).  A handler takes one `Call` (the request,
its validated body, the app's `Repo` and clock) and returns the JSON body, or None for an
empty one.  Each handler validates, then makes one insert or compare-and-swap through the
`Repo`; server builds and deletes are only recorded here (task_state `scheduling` /
`deleting`) and carried out by the conductor.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from berth.centralised import guard
from berth.centralised.compute import request_schemas as schemas
from berth.centralised.compute import views
from berth.centralised.compute.db import Repo, Row
from berth.centralised.compute.errors import ApiError


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it: path and query values, body, the app's state."""

    request: Request
    body: Any = None

    @property
    def repo(self) -> Repo:
        return self.request.app.state.repo

    @property
    def down_after(self) -> float:
        return self.request.app.state.down_after

    def now(self) -> float:
        return self.request.app.state.clock.now()

    def param(self, name: str) -> str:
        return self.request.path_params[name]

    def query(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def credentials(self) -> tuple[str, str]:
        """The authenticated caller's user and project."""
        who = guard.identity(self.request.scope)
        return who.user, who.project


def new_id() -> str:
    return str(uuid.uuid4())


def _found(row: Row | None, what: str, ident: str) -> Row:
    if row is None:
        raise ApiError(404, f"{what} {ident} could not be found.")
    return row


def versions(_call: Call) -> dict:
    return {"versions": [{"id": "v2.1", "status": "CURRENT", "version": "2.64", "min_version": "2.1",
                          "links": [{"rel": "self", "href": "/"}]}]}


# ---- flavors -----------------------------------------------------------------------------
def list_flavors(call: Call) -> dict:
    return {"flavors": [views.flavor(r) for r in call.repo.flavors()]}


def show_flavor(call: Call) -> dict:
    ident = call.param("flavor_id")
    return {"flavor": views.flavor(_found(call.repo.flavor(ident), "Flavor", ident))}


def create_flavor(call: Call) -> dict:
    spec = call.body["flavor"]
    extra_specs = spec.get("extra_specs", {})
    _check_extra_specs(extra_specs)
    row = call.repo.create_flavor({"id": spec.get("id") or new_id(), "name": spec["name"], "vcpus": spec["vcpus"],
                                   "ram": spec["ram"], "disk": spec.get("disk", 0), "extra_specs": extra_specs})
    return {"flavor": views.flavor(row)}


def _check_extra_specs(specs: dict[str, str]) -> None:
    from berth.centralised.scheduler.request import parse_extra_specs
    try:
        parse_extra_specs(specs)
    except ValueError as err:
        raise ApiError(400, str(err)) from None


def delete_flavor(call: Call) -> None:
    ident = call.param("flavor_id")
    if not call.repo.delete_flavor(ident):
        raise ApiError(404, f"Flavor {ident} could not be found.")


# ---- servers -----------------------------------------------------------------------------
STATUSES = ("BUILD", "ACTIVE", "ERROR")


def _listed(call: Call) -> list[Row]:
    status, host = call.query("status"), call.query("host")
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"Invalid status value {status!r}; one of {', '.join(STATUSES)}")
    return [r for r in call.repo.servers()
            if (status is None or r["status"] == status) and (host is None or r["host"] == host)]


def list_servers(call: Call) -> dict:
    return {"servers": [views.server_brief(r) for r in _listed(call)]}


def list_servers_detail(call: Call) -> dict:
    health = _host_health(call)
    return {"servers": [views.server(r, health) for r in _listed(call)]}


def show_server(call: Call) -> dict:
    ident = call.param("server_id")
    row = _found(call.repo.server(ident), "Instance", ident)
    return {"server": views.server(row, _host_health(call))}


def _host_health(call: Call) -> dict[str, tuple[str, str]]:
    """Per compute host: Nova's `host_status` (UP, DOWN, MAINTENANCE) and its zone."""
    now = call.now()
    return {r["host"]: (views.host_status(r, now, call.down_after), r["availability_zone"])
            for r in call.repo.services()}


def _hints(body: dict) -> dict:
    """The scheduler hints, under Nova's key or its plain name (the former wins)."""
    hints = body["os:scheduler_hints"] if "os:scheduler_hints" in body else body.get("scheduler_hints")
    return hints or {}


def _checked_server(repo: Repo, body: dict) -> tuple[Row, str | None]:
    """The flavor and group a create names, once both (and its zone) are known to exist."""
    spec = body["server"]
    flavor = repo.flavor(spec["flavorRef"])
    if flavor is None:
        raise ApiError(400, f"Flavor {spec['flavorRef']} could not be found.")
    group_id = _hints(body).get("group")
    if group_id and repo.group(group_id) is None:
        raise ApiError(400, f"Invalid server group {group_id}: it could not be found.")
    zone = spec.get("availability_zone")
    if zone and zone not in {s["availability_zone"] for s in repo.services()}:
        raise ApiError(400, f"The requested availability zone is not available: {zone}")
    return flavor, group_id


def create_server(call: Call) -> dict:
    flavor, group_id = _checked_server(call.repo, call.body)
    spec, (user, project), now = call.body["server"], call.credentials(), call.now()
    row = call.repo.create_server({
        "id": new_id(), "name": spec["name"], "user_id": user, "project_id": project,
        "flavor": views.flavor(flavor), "group_id": group_id, "availability_zone": spec.get("availability_zone"),
        "command": list(spec.get("command", [])), "status": "BUILD", "task_state": "scheduling",
        "attempts": 0, "tried_hosts": [], "created": now, "updated": now, "lease_until": 0.0})
    call.request.app.state.notify(row["id"])
    return {"server": views.server_brief(row)}


def delete_server(call: Call) -> None:
    ident, now = call.param("server_id"), call.now()
    row = call.repo.mutate_server(ident, lambda r: None if r["task_state"] == "deleting" else {
        "task_state": "deleting", "updated": now})
    _found(row, "Instance", ident)
    call.request.app.state.notify(ident)


def console_output(call: Call) -> dict:
    """Nova's `os-getConsoleOutput`: the server's console log, read from its compute agent with the
    service token (which agents accept for that read alone)."""
    ident = call.param("server_id")
    row = _found(call.repo.server(ident), "Instance", ident)
    length = call.body["os-getConsoleOutput"].get("length")
    length = -1 if length is None else int(length)
    if length < -1:
        raise ApiError(400, "Invalid input for field/attribute length. Value: must be -1 or more.")
    service = call.repo.service(row["host"]) if row["host"] else None
    if service is None or row["status"] not in ("ACTIVE", "SHUTOFF", "ERROR") or row["task_state"]:
        raise ApiError(409, f"Instance {ident} is not ready (status {row['status']}).")
    return {"output": call.request.app.state.consoles.read(service["url"], ident, length)}


# ---- server groups -----------------------------------------------------------------------
def _group_view(repo: Repo, row: Row) -> dict:
    return views.group(row, [m["id"] for m in repo.group_members(row["id"])])


def list_groups(call: Call) -> dict:
    return {"server_groups": [_group_view(call.repo, r) for r in call.repo.groups()]}


def show_group(call: Call) -> dict:
    ident = call.param("group_id")
    return {"server_group": _group_view(call.repo, _found(call.repo.group(ident), "Server group", ident))}


def create_group(call: Call) -> dict:
    spec = call.body["server_group"]
    rules = {k: v for k, v in (spec.get("rules") or {}).items() if v is not None}
    if rules and spec["policy"] != "anti-affinity":
        raise ApiError(400, f"Only anti-affinity policy supports rules, not {spec['policy']}.")
    row = call.repo.create_group({"id": new_id(), "name": spec["name"], "policy": spec["policy"],
                                  "rules": rules, "project_id": call.credentials()[1]})
    return {"server_group": views.group(row, [])}


def delete_group(call: Call) -> None:
    ident = call.param("group_id")
    if not call.repo.delete_group(ident):
        raise ApiError(404, f"Server group {ident} could not be found.")


# ---- availability zones and compute services ---------------------------------------------
def list_zones(call: Call) -> dict:
    return {"availabilityZoneInfo": views.zones(call.repo.services(), call.now(), call.down_after, False)}


def list_zones_detail(call: Call) -> dict:
    return {"availabilityZoneInfo": views.zones(call.repo.services(), call.now(), call.down_after, True)}


def list_services(call: Call) -> dict:
    return {"services": [views.service(r, call.now(), call.down_after) for r in call.repo.services()]}


def report_service(call: Call) -> dict:
    """A compute agent's registration and heartbeat (a berth extension of Nova's API)."""
    body = call.body
    row = call.repo.report_service(body["host"], {
        "url": body["url"], "rp_uuid": body["rp_uuid"], "availability_zone": body.get("availability_zone", "nova"),
        "disabled": False, "last_seen": call.now()})
    return {"service": views.service(row, call.now(), call.down_after)}


POWER_STATUS = {"running": "ACTIVE", "shutdown": "SHUTOFF", "crashed": "SHUTOFF"}
"""A server's status from its power state: a guest found shut down or crashed is SHUTOFF, as Nova's
power-state sync stops it."""


def report_power(call: Call) -> dict:
    """A compute agent's power states of its servers: an ACTIVE or SHUTOFF server on that host, with no
    task under way, takes the status its power state means.  Answers the ids now settled (status
    matching, or gone, or on another host); the agent reports the rest again."""
    host, settled = call.param("host"), []
    for ident, power in call.body["servers"].items():
        row = call.repo.mutate_server(ident, lambda r, p=power: _powered(r, host, p, call.now()))
        if row is None or row["host"] != host or row["status"] == POWER_STATUS[power]:
            settled.append(ident)
    return {"settled": settled}


def _powered(row: Row, host: str, power: str, now: float) -> Row | None:
    wanted = POWER_STATUS[power]
    if row["host"] != host or row["task_state"] or row["status"] not in ("ACTIVE", "SHUTOFF") \
            or row["status"] == wanted:
        return None
    return {"status": wanted, "updated": now}


def update_service(call: Call) -> dict:
    host = call.param("host")
    row = _found(call.repo.set_service_disabled(host, call.body["status"] == "disabled"), "Compute host", host)
    return {"service": views.service(row, call.now(), call.down_after)}


@dataclass(frozen=True)
class Op:
    """One route: where, what runs, the body it takes, the status it answers with."""

    path: str
    method: str
    handler: Callable[[Call], dict | None]
    tag: str
    body: dict | None = None
    status: int = 200
    query: tuple[str, ...] = ()
    rule: str = "member"


_LISTING = ("status", "host")
ROUTES: list[Op] = [  # in match order: a fixed segment (`detail`) before a parameter
    Op("/", "GET", versions, "versions", rule="any"),
    Op("/flavors", "GET", list_flavors, "flavors", rule="any"),
    Op("/flavors/detail", "GET", list_flavors, "flavors", rule="any"),
    Op("/flavors/{flavor_id}", "GET", show_flavor, "flavors", rule="any"),
    Op("/flavors", "POST", create_flavor, "flavors", schemas.FLAVOR_CREATE, rule="admin"),
    Op("/flavors/{flavor_id}", "DELETE", delete_flavor, "flavors", status=202, rule="admin"),
    Op("/servers", "GET", list_servers, "servers", query=_LISTING),
    Op("/servers/detail", "GET", list_servers_detail, "servers", query=_LISTING),
    Op("/servers/{server_id}", "GET", show_server, "servers"),
    Op("/servers", "POST", create_server, "servers", schemas.SERVER_CREATE, status=202),
    Op("/servers/{server_id}", "DELETE", delete_server, "servers", status=204),
    Op("/servers/{server_id}/action", "POST", console_output, "servers", schemas.CONSOLE_OUTPUT),
    Op("/os-server-groups", "GET", list_groups, "server groups"),
    Op("/os-server-groups/{group_id}", "GET", show_group, "server groups"),
    Op("/os-server-groups", "POST", create_group, "server groups", schemas.GROUP_CREATE),
    Op("/os-server-groups/{group_id}", "DELETE", delete_group, "server groups", status=204),
    Op("/os-availability-zone", "GET", list_zones, "availability zones", rule="any"),
    Op("/os-availability-zone/detail", "GET", list_zones_detail, "availability zones", rule="admin"),
    Op("/os-services", "GET", list_services, "services", rule="admin"),
    Op("/os-services", "POST", report_service, "services", schemas.SERVICE_REPORT, rule="service"),
    Op("/os-services/{host}/power-states", "POST", report_power, "services", schemas.POWER_REPORT, rule="service"),
    Op("/os-services/{host}", "PUT", update_service, "services", schemas.SERVICE_UPDATE, rule="admin"),
]
