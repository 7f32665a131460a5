"""The compute API's routes: flavors, servers, server groups, availability zones, services.

Each handler validates, then makes one insert or compare-and-swap through the app's `Repo`;
server builds and deletes are only recorded here (task_state `scheduling` / `deleting`) and
carried out by the conductor.  Mounted by `compute.api.create_app`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from berth.centralised.compute import views
from berth.centralised.compute.api import ApiError, credentials, new_id
from berth.centralised.compute.db import Repo, Row
from berth.centralised.compute.models import (FlavorCreate, GroupCreate, ServerCreate, ServiceReport,
                                              ServiceUpdate)

router = APIRouter()


def _repo(request: Request) -> Repo:
    return request.app.state.repo


def _now(request: Request) -> float:
    return request.app.state.clock.now()


def _found(row: Row | None, what: str, ident: str) -> Row:
    if row is None:
        raise ApiError(404, f"{what} {ident} could not be found.")
    return row


@router.get("/", tags=["versions"])
def versions() -> dict:
    return {"versions": [{"id": "v2.1", "status": "CURRENT", "version": "2.64", "min_version": "2.1",
                          "links": [{"rel": "self", "href": "/"}]}]}


# ---- flavors -----------------------------------------------------------------------------
@router.get("/flavors", tags=["flavors"])
@router.get("/flavors/detail", tags=["flavors"])
def list_flavors(request: Request) -> dict:
    return {"flavors": [views.flavor(r) for r in _repo(request).flavors()]}


@router.get("/flavors/{flavor_id}", tags=["flavors"])
def show_flavor(flavor_id: str, request: Request) -> dict:
    return {"flavor": views.flavor(_found(_repo(request).flavor(flavor_id), "Flavor", flavor_id))}


@router.post("/flavors", tags=["flavors"], status_code=200)
def create_flavor(body: FlavorCreate, request: Request) -> dict:
    spec = body.flavor
    _check_extra_specs(spec.extra_specs)
    row = _repo(request).create_flavor({"id": spec.id or new_id(), "name": spec.name, "vcpus": spec.vcpus,
                                        "ram": spec.ram, "disk": spec.disk, "extra_specs": spec.extra_specs})
    return {"flavor": views.flavor(row)}


def _check_extra_specs(specs: dict[str, str]) -> None:
    from berth.centralised.scheduler.request import parse_extra_specs
    try:
        parse_extra_specs(specs)
    except ValueError as err:
        raise ApiError(400, str(err)) from None


@router.delete("/flavors/{flavor_id}", tags=["flavors"], status_code=202)
def delete_flavor(flavor_id: str, request: Request) -> Response:
    if not _repo(request).delete_flavor(flavor_id):
        raise ApiError(404, f"Flavor {flavor_id} could not be found.")
    return Response(status_code=202)


# ---- servers -----------------------------------------------------------------------------
STATUSES = ("BUILD", "ACTIVE", "ERROR")


def _listed(request: Request, status: str | None, host: str | None) -> list[Row]:
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"Invalid status value {status!r}; one of {', '.join(STATUSES)}")
    return [r for r in _repo(request).servers()
            if (status is None or r["status"] == status) and (host is None or r["host"] == host)]


@router.get("/servers", tags=["servers"])
def list_servers(request: Request, status: str | None = None, host: str | None = None) -> dict:
    return {"servers": [views.server_brief(r) for r in _listed(request, status, host)]}


@router.get("/servers/detail", tags=["servers"])
def list_servers_detail(request: Request, status: str | None = None, host: str | None = None) -> dict:
    health = _host_health(request)
    return {"servers": [views.server(r, health) for r in _listed(request, status, host)]}


@router.get("/servers/{server_id}", tags=["servers"])
def show_server(server_id: str, request: Request) -> dict:
    row = _found(_repo(request).server(server_id), "Instance", server_id)
    return {"server": views.server(row, _host_health(request))}


def _host_health(request: Request) -> dict[str, tuple[str, str]]:
    """Per compute host: Nova's `host_status` (UP, DOWN, MAINTENANCE) and its zone."""
    state = request.app.state
    return {r["host"]: (views.host_status(r, _now(request), state.down_after), r["availability_zone"])
            for r in state.repo.services()}


@router.post("/servers", tags=["servers"], status_code=202)
def create_server(body: ServerCreate, request: Request, who: tuple[str, str] = Depends(credentials)) -> dict:
    repo, spec = _repo(request), body.server
    flavor = repo.flavor(spec.flavorRef)
    if flavor is None:
        raise ApiError(400, f"Flavor {spec.flavorRef} could not be found.")
    group_id = body.scheduler_hints.group if body.scheduler_hints else None
    if group_id and repo.group(group_id) is None:
        raise ApiError(400, f"Invalid server group {group_id}: it could not be found.")
    zone = spec.availability_zone
    if zone and zone not in {s["availability_zone"] for s in repo.services()}:
        raise ApiError(400, f"The requested availability zone is not available: {zone}")
    now = _now(request)
    row = repo.create_server({
        "id": new_id(), "name": spec.name, "user_id": who[0], "project_id": who[1],
        "flavor": views.flavor(flavor), "group_id": group_id, "availability_zone": zone,
        "command": list(spec.command), "status": "BUILD", "task_state": "scheduling",
        "attempts": 0, "tried_hosts": [], "created": now, "updated": now, "lease_until": 0.0})
    request.app.state.notify(row["id"])
    return {"server": views.server_brief(row)}


@router.delete("/servers/{server_id}", tags=["servers"], status_code=204)
def delete_server(server_id: str, request: Request) -> Response:
    now = _now(request)
    row = _repo(request).mutate_server(server_id, lambda r: None if r["task_state"] == "deleting" else {
        "task_state": "deleting", "updated": now})
    _found(row, "Instance", server_id)
    request.app.state.notify(server_id)
    return Response(status_code=204)


# ---- server groups -----------------------------------------------------------------------
def _group_view(repo: Repo, row: Row) -> dict:
    return views.group(row, [m["id"] for m in repo.group_members(row["id"])])


@router.get("/os-server-groups", tags=["server groups"])
def list_groups(request: Request) -> dict:
    repo = _repo(request)
    return {"server_groups": [_group_view(repo, r) for r in repo.groups()]}


@router.get("/os-server-groups/{group_id}", tags=["server groups"])
def show_group(group_id: str, request: Request) -> dict:
    repo = _repo(request)
    return {"server_group": _group_view(repo, _found(repo.group(group_id), "Server group", group_id))}


@router.post("/os-server-groups", tags=["server groups"])
def create_group(body: GroupCreate, request: Request, who: tuple[str, str] = Depends(credentials)) -> dict:
    spec = body.server_group
    rules = spec.rules.model_dump(exclude_none=True) if spec.rules else {}
    if rules and spec.policy != "anti-affinity":
        raise ApiError(400, f"Only anti-affinity policy supports rules, not {spec.policy}.")
    row = _repo(request).create_group({"id": new_id(), "name": spec.name, "policy": spec.policy,
                                       "rules": rules, "project_id": who[1]})
    return {"server_group": views.group(row, [])}


@router.delete("/os-server-groups/{group_id}", tags=["server groups"], status_code=204)
def delete_group(group_id: str, request: Request) -> Response:
    if not _repo(request).delete_group(group_id):
        raise ApiError(404, f"Server group {group_id} could not be found.")
    return Response(status_code=204)


# ---- availability zones and compute services ---------------------------------------------
@router.get("/os-availability-zone", tags=["availability zones"])
def list_zones(request: Request) -> dict:
    state = request.app.state
    return {"availabilityZoneInfo": views.zones(state.repo.services(), _now(request), state.down_after, False)}


@router.get("/os-availability-zone/detail", tags=["availability zones"])
def list_zones_detail(request: Request) -> dict:
    state = request.app.state
    return {"availabilityZoneInfo": views.zones(state.repo.services(), _now(request), state.down_after, True)}


@router.get("/os-services", tags=["services"])
def list_services(request: Request) -> dict:
    state = request.app.state
    return {"services": [views.service(r, _now(request), state.down_after) for r in state.repo.services()]}


@router.post("/os-services", tags=["services"])
def report_service(body: ServiceReport, request: Request) -> dict:
    """A compute agent's registration and heartbeat (a berth extension of Nova's API)."""
    state = request.app.state
    row = state.repo.report_service(body.host, {"url": body.url, "rp_uuid": body.rp_uuid,
                                                "availability_zone": body.availability_zone,
                                                "disabled": False, "last_seen": _now(request)})
    return {"service": views.service(row, _now(request), state.down_after)}


@router.put("/os-services/{host}", tags=["services"])
def update_service(host: str, body: ServiceUpdate, request: Request) -> dict:
    state = request.app.state
    row = _found(state.repo.set_service_disabled(host, body.status == "disabled"), "Compute host", host)
    return {"service": views.service(row, _now(request), state.down_after)}
