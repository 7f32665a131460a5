"""Handler for POST /reshaper (1.30+): move inventory and allocations atomically.

One transaction, in upstream's three steps: (1) every named provider (generation checked)
gets the union of its current and its new inventory, so allocations can move between
classes; (2) the named consumers' allocations are replaced through `claims.replace`
(capacity checked against that interim inventory); (3) each provider's inventory becomes
exactly the new one, which fails with 409 `placement.inventory.inuse` if a removed class
still holds allocations.  Each step bumps the touched providers' generations, as upstream.
"""

from __future__ import annotations

import copy

from berth.centralised.placement import claims, errors, queries
from berth.centralised.placement.handlers import alloc_schemas, allocations, inventories
from berth.centralised.placement.microversion import Version
from berth.centralised.placement.request import Req, Resp


def _schema(req: Req) -> dict:
    allocs = copy.deepcopy(alloc_schemas.post_schema(req.version if req.want(34) else Version(1, 28)))
    allocs["minProperties"] = 0
    return {"type": "object", "properties": {
        "inventories": {"type": "object", "patternProperties": {alloc_schemas.UUID_PATTERN: inventories.ALL_PUT},
                        "minProperties": 1, "additionalProperties": False},
        "allocations": allocs}, "required": ["inventories", "allocations"], "additionalProperties": False}


def _targets(conn, data: dict, ids: dict[str, int]) -> list[tuple[object, dict]]:  # noqa: ANN001
    """(provider row, wanted inventories) per named provider, after generation checks."""
    out = []
    for rp_uuid, body in data["inventories"].items():
        rp = queries.provider(conn, rp_uuid)
        if rp is None:
            raise errors.bad_request(f"Resource provider {rp_uuid} in inventories not found: No resource "
                                     f"provider with uuid {rp_uuid} found", errors.RESOURCE_PROVIDER_NOT_FOUND)
        if body["resource_provider_generation"] != rp.generation:
            raise errors.concurrent(f"resource provider generation conflict for provider {rp_uuid}: "
                                    f"actual: {rp.generation}, given: {body['resource_provider_generation']}")
        wanted = {rc: {**inventories.DEFAULTS, **inv} for rc, inv in body["inventories"].items()}
        for rc in wanted:
            if rc not in ids:
                raise errors.bad_request(f"malformed reshaper data: No such resource class {rc}.")
            inventories.check_bounded(rp_uuid, rc, wanted[rc], "update")
        out.append((rp, wanted))
    return out


def reshape(req: Req) -> Resp:
    data = req.json(_schema(req))
    with req.service.db.write() as tx:
        conn = tx.conn
        ids = queries.rc_ids(conn)
        targets = _targets(conn, data, ids)
        for rp, wanted in targets:
            if wanted:
                have = {r.rc for r in inventories._rows(conn, rp.id)}
                for rc, inv in wanted.items():
                    inventories._write(conn, rp.id, ids[rc], inv, rc in have)
                queries.bump_generation(conn, queries.provider(conn, rp.uuid))
            tx.touch(rp.id, "inv")
        requests = [allocations._request_from(req, c, body) for c, body in data["allocations"].items()]
        claims.replace(tx, req.version, requests,
                       "malformed reshaper data: Allocation for resource provider '%(rp_uuid)s' that does not exist.")
        for rp, wanted in targets:
            fresh = queries.provider(conn, rp.uuid)
            inventories._replace(conn, fresh, wanted, ids, "update conflict: ")
            queries.bump_generation(conn, fresh)
    return Resp(204)
