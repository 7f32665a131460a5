"""Handlers for /resource_providers/{uuid}/inventories[/{resource_class}].

Inventory fields and defaults are upstream's (reserved 0, min_unit 1, max_unit 2^31-1,
step_size 1, allocation_ratio 1.0).  Every write checks the provider generation (409
`placement.concurrent_update`); removing a class that has allocations is a 409
`placement.inventory.inuse`.  Reserved may equal total only from microversion 1.26.  Fields
are bounded as upstream's schema bounds them (integers by 2^31-1, the ratio by the largest
single-precision float), and the capacity `(total - reserved) * allocation_ratio` by
`MAX_CAPACITY` (400 beyond), so no capacity overflows the index's 64-bit arithmetic.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update

from berth.centralised.placement import errors, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.db import utcnow
from berth.centralised.placement.request import Req, Resp

MAX_INT = 0x7FFFFFFF
MAX_CAPACITY = 1 << 53
"""The largest capacity an inventory may have: every integer up to it is exact as a float."""
FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
DEFAULTS = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT, "step_size": 1, "allocation_ratio": 1.0}
RC_PATTERN = "^[A-Z0-9_]+$"
INV = s.inventories


def _int(minimum: int) -> dict:
    return {"type": "integer", "maximum": MAX_INT, "minimum": minimum}


RECORD = {
    "type": "object",
    "properties": {"resource_provider_generation": {"type": "integer"}, "total": _int(1),
                   "reserved": _int(0), "min_unit": _int(1), "max_unit": _int(1),
                   "step_size": _int(1), "allocation_ratio": {"type": "number", "maximum": 3.40282e+38}},
    "required": ["total"], "additionalProperties": False,
}
ONE_PUT = {**RECORD, "required": ["total", "resource_provider_generation"]}
ONE_POST = {**RECORD, "properties": {**RECORD["properties"],
                                     "resource_class": {"type": "string", "pattern": RC_PATTERN}},
            "required": ["total", "resource_class"]}
ALL_PUT = {
    "type": "object",
    "properties": {"resource_provider_generation": {"type": "integer"},
                   "inventories": {"type": "object", "patternProperties": {RC_PATTERN: RECORD}}},
    "required": ["resource_provider_generation", "inventories"], "additionalProperties": False,
}


def _serialize(row) -> dict:  # noqa: ANN001 - inventory row
    return {f: getattr(row, f) for f in FIELDS}


def _rows(conn, provider_id: int):  # noqa: ANN001
    q = (select(INV, s.resource_classes.c.name.label("rc"))
         .join(s.resource_classes, s.resource_classes.c.id == INV.c.rc_id)
         .where(INV.c.provider_id == provider_id))
    return conn.execute(q).all()


def _check_capacity(req: Req, rp_uuid: str, rc: str, data: dict, what: str) -> None:
    reserved_can_be_total = req.want(26)
    capacity = int((data["total"] - data["reserved"]) * data["allocation_ratio"])
    if capacity < 0 or (capacity == 0 and not reserved_can_be_total) or (
            data["reserved"] > data["total"]) or (data["reserved"] == data["total"] and not reserved_can_be_total):
        tail = "greater than total." if reserved_can_be_total else "greater than or equal to total."
        raise errors.bad_request(f"Unable to {what} inventory for resource provider {rp_uuid}: "
                                 f"Invalid inventory for '{rc}' on resource provider '{rp_uuid}'. "
                                 f"The reserved value is {tail}")
    check_bounded(rp_uuid, rc, data, what)


def check_bounded(rp_uuid: str, rc: str, data: dict, what: str) -> None:
    """400 when the capacity `data` gives is beyond `MAX_CAPACITY`."""
    if (data["total"] - data["reserved"]) * data["allocation_ratio"] > MAX_CAPACITY:
        raise errors.bad_request(f"Unable to {what} inventory for resource provider {rp_uuid}: "
                                 f"Invalid inventory for '{rc}' on resource provider '{rp_uuid}'. "
                                 f"The capacity (total - reserved) * allocation_ratio exceeds {MAX_CAPACITY}.")


def _listing(conn, row) -> tuple[dict, object]:  # noqa: ANN001
    invs = _rows(conn, row.id)
    body = {"resource_provider_generation": row.generation,
            "inventories": {r.rc: _serialize(r) for r in invs}}
    stamps = [r.updated_at or r.created_at for r in invs if (r.updated_at or r.created_at)]
    return body, max(stamps) if stamps else None


def get_all(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.read() as conn:
        row = queries.provider_or_404(
            conn, uuid, f"No resource provider with uuid {uuid} found : Resource could not be found.")
        body, when = _listing(conn, row)
    return Resp(200, body).modified(req, when)


def get_one(req: Req) -> Resp:
    uuid, rc = req.params["uuid"], req.params["resource_class"]
    with req.service.db.read() as conn:
        row = queries.provider_or_404(
            conn, uuid, f"No resource provider with uuid {uuid} found : Resource could not be found.")
        inv = next((r for r in _rows(conn, row.id) if r.rc == rc), None)
        if inv is None:
            raise errors.not_found(f"No inventory of class {rc} for {uuid}")
        body = {**_serialize(inv), "resource_provider_generation": row.generation}
    return Resp(200, body).modified(req, inv.updated_at or inv.created_at)


def _in_use(conn, provider_id: int, rc_ids: list[int]) -> list[int]:  # noqa: ANN001
    al = s.allocations
    return list(conn.execute(select(al.c.rc_id).where(
        (al.c.provider_id == provider_id) & al.c.rc_id.in_(rc_ids)).group_by(al.c.rc_id)).scalars())


def _write(conn, provider_id: int, rc_id: int, data: dict, exists: bool) -> None:  # noqa: ANN001
    values = {f: data[f] for f in FIELDS}
    now = utcnow()
    if exists:
        conn.execute(update(INV).where((INV.c.provider_id == provider_id) & (INV.c.rc_id == rc_id))
                     .values(**values, updated_at=now))
    else:
        conn.execute(insert(INV).values(provider_id=provider_id, rc_id=rc_id, created_at=now,
                                        updated_at=now, **values))


def create(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.write() as tx:
        row = queries.provider_or_404(tx.conn, uuid)
        data = {**DEFAULTS, **req.json(ONE_POST)}
        rc = data.pop("resource_class")
        rc_id = queries.rc_id(tx.conn, rc)
        if rc_id is None:
            raise errors.bad_request(f"Unable to create inventory for resource provider {uuid}: "
                                     f"No such resource class {rc}.")
        _check_capacity(req, uuid, rc, data, "create")
        if any(r.rc == rc for r in _rows(tx.conn, row.id)):
            raise errors.concurrent(f"Update conflict: Inventory for '{rc}' on resource provider "
                                    f"'{uuid}' invalid.")
        _write(tx.conn, row.id, rc_id, data, False)
        gen = queries.bump_generation(tx.conn, row)
        tx.touch(row.id, "inv")
    body = {**{f: data[f] for f in FIELDS}, "resource_provider_generation": gen}
    return Resp(201, body, {"location": f"/resource_providers/{uuid}/inventories/{rc}"}).modified(req, None)


def update_one(req: Req) -> Resp:
    uuid, rc = req.params["uuid"], req.params["resource_class"]
    with req.service.db.write() as tx:
        row = queries.provider_or_404(tx.conn, uuid)
        data = {**DEFAULTS, **req.json(ONE_PUT)}
        if data["resource_provider_generation"] != row.generation:
            raise errors.concurrent("resource provider generation conflict")
        rc_id = queries.rc_id(tx.conn, rc)
        _check_capacity(req, uuid, rc, data, "update")
        if rc_id is None or not any(r.rc == rc for r in _rows(tx.conn, row.id)):
            raise errors.bad_request(f"No inventory record with resource class for resource provider "
                                     f"{uuid}: No inventory of class {rc} found.")
        _write(tx.conn, row.id, rc_id, data, True)
        gen = queries.bump_generation(tx.conn, row)
        tx.touch(row.id, "inv")
    body = {**{f: data[f] for f in FIELDS}, "resource_provider_generation": gen}
    return Resp(200, body).modified(req, None)


def set_all(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.write() as tx:
        conn = tx.conn
        row = queries.provider_or_404(conn, uuid)
        data = req.json(ALL_PUT)
        if data["resource_provider_generation"] != row.generation:
            raise errors.concurrent("resource provider generation conflict")
        wanted = {rc: {**DEFAULTS, **inv} for rc, inv in data["inventories"].items()}
        ids = queries.rc_ids(conn)
        for rc, inv in wanted.items():
            if rc not in ids:
                raise errors.bad_request(f"Unknown resource class in inventory for resource provider "
                                         f"{uuid}: No such resource class {rc}.")
            _check_capacity(req, uuid, rc, inv, "update")
        _replace(conn, row, wanted, ids, "update conflict: ")
        gen = queries.bump_generation(conn, row)
        tx.touch(row.id, "inv")
        body, _when = _listing(conn, row)
        body["resource_provider_generation"] = gen
    return Resp(200, body).modified(req, None)


def _replace(conn, row, wanted: dict, ids: dict, prefix: str) -> None:  # noqa: ANN001
    have = {r.rc: r for r in _rows(conn, row.id)}
    gone = [ids[rc] for rc in have if rc not in wanted]
    busy = _in_use(conn, row.id, gone) if gone else []
    if busy:
        names = queries.rc_names(conn)
        raise errors.conflict(f"{prefix}Inventory for '{', '.join(names[i] for i in busy)}' on resource "
                              f"provider '{row.uuid}' in use.", errors.INVENTORY_INUSE)
    if gone:
        conn.execute(delete(INV).where((INV.c.provider_id == row.id) & INV.c.rc_id.in_(gone)))
    for rc, inv in wanted.items():
        _write(conn, row.id, ids[rc], inv, rc in have)


def delete_all(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.write() as tx:
        row = queries.provider_or_404(tx.conn, uuid)
        _replace(tx.conn, row, {}, queries.rc_ids(tx.conn), "")
        queries.bump_generation(tx.conn, row)
        tx.touch(row.id, "inv")
    return Resp(204)


def delete_one(req: Req) -> Resp:
    uuid, rc = req.params["uuid"], req.params["resource_class"]
    with req.service.db.write() as tx:
        conn = tx.conn
        row = queries.provider_or_404(conn, uuid)
        rc_id = queries.rc_id(conn, rc)
        exists = rc_id is not None and conn.execute(select(func.count()).select_from(INV).where(
            (INV.c.provider_id == row.id) & (INV.c.rc_id == rc_id))).scalar_one()
        if not exists:
            raise errors.not_found(f"No inventory of class {rc} found for delete: No inventory of "
                                   f"class {rc} found.")
        if _in_use(conn, row.id, [rc_id]):
            raise errors.conflict(f"Unable to delete inventory of class {rc}: Inventory for '{rc}' on "
                                  f"resource provider '{uuid}' in use.", errors.CONCURRENT_UPDATE)
        conn.execute(delete(INV).where((INV.c.provider_id == row.id) & (INV.c.rc_id == rc_id)))
        queries.bump_generation(tx.conn, row)
        tx.touch(row.id, "inv")
    return Resp(204)
