"""Handler for POST /reshaper (1.30+): move inventory and allocations atomically.

In one transaction: check every named provider's generation, replace their inventories
(leaving classes that still hold allocations until the end), replace the named consumers'
allocations through `claims.replace`, then refuse (409 inventory.inuse) if any allocation is
left on a class whose inventory was removed.
"""

from __future__ import annotations

import copy

from sqlalchemy import delete, select

from berth.centralised.placement import claims, errors, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.handlers import alloc_schemas, allocations, inventories
from berth.centralised.placement.request import Req, Resp


def _schema(req: Req) -> dict:
    allocs = copy.deepcopy(alloc_schemas.post_schema(req.version if req.want(34) else type(req.version)(1, 28)))
    allocs["minProperties"] = 0
    return {"type": "object", "properties": {
        "inventories": {"type": "object", "patternProperties": {alloc_schemas.UUID_PATTERN: inventories.ALL_PUT},
                        "minProperties": 1, "additionalProperties": False},
        "allocations": allocs}, "required": ["inventories", "allocations"], "additionalProperties": False}


def reshape(req: Req) -> Resp:
    data = req.json(_schema(req))
    with req.service.db.write() as tx:
        conn = tx.conn
        ids = queries.rc_ids(conn)
        removed: list[tuple[int, int, str, str]] = []
        for rp_uuid, body in data["inventories"].items():
            rp = queries.provider(conn, rp_uuid)
            if rp is None:
                raise errors.bad_request(f"Resource provider {rp_uuid} in inventories not found: No resource "
                                         f"provider with uuid {rp_uuid} found",
                                         errors.RESOURCE_PROVIDER_NOT_FOUND)
            if body["resource_provider_generation"] != rp.generation:
                raise errors.concurrent(f"resource provider generation conflict for provider {rp_uuid}: "
                                        f"actual: {rp.generation}, given: {body['resource_provider_generation']}")
            wanted = {rc: {**inventories.DEFAULTS, **inv} for rc, inv in body["inventories"].items()}
            for rc in wanted:
                if rc not in ids:
                    raise errors.bad_request(f"malformed reshaper data: No such resource class {rc}.")
            have = {r.rc for r in inventories._rows(conn, rp.id)}
            removed += [(rp.id, ids[rc], rc, rp.uuid) for rc in have if rc not in wanted]
            for rc, inv in wanted.items():
                inventories._write(conn, rp.id, ids[rc], inv, rc in have)
            queries.bump_generation(conn, rp)
            tx.touch(rp.id, "inv")
        requests = [allocations._request_from(req, c, body) for c, body in data["allocations"].items()]
        claims.replace(tx, req.version, requests,
                       "malformed reshaper data: Allocation for resource provider '%(rp_uuid)s' that does not exist.")
        _drop_removed(conn, removed)
    return Resp(204)


def _drop_removed(conn, removed) -> None:  # noqa: ANN001
    inv, al = s.inventories, s.allocations
    for pid, rc_id, rc, uuid in removed:
        busy = conn.execute(select(al.c.id).where((al.c.provider_id == pid) & (al.c.rc_id == rc_id))).first()
        if busy:
            raise errors.conflict(f"update conflict: Inventory for '{rc}' on resource provider '{uuid}' in use.",
                                  errors.INVENTORY_INUSE)
        conn.execute(delete(inv).where((inv.c.provider_id == pid) & (inv.c.rc_id == rc_id)))
