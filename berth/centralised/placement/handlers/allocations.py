"""Handlers for /allocations/{consumer}, POST /allocations and /resource_providers/{uuid}/allocations.

Bodies are validated per microversion (`alloc_schemas`), turned into `ConsumerRequest`s and
written by `claims.replace` in one transaction.  DELETE removes every allocation of a
consumer (unsafe: no generation); an empty PUT at 1.28+ is the safe delete.
"""

from __future__ import annotations

import uuid as uuidlib

from sqlalchemy import delete, select

from berth.centralised.placement import claims, errors, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.handlers import alloc_schemas
from berth.centralised.placement.qs import is_uuid
from berth.centralised.placement.request import Req, Resp

AL, CO, RP = s.allocations, s.consumers, s.providers


def _consumer_allocations(conn, consumer_id: int):  # noqa: ANN001
    q = (select(RP.c.uuid, RP.c.generation, s.resource_classes.c.name, AL.c.used, AL.c.updated_at)
         .join(RP, RP.c.id == AL.c.provider_id)
         .join(s.resource_classes, s.resource_classes.c.id == AL.c.rc_id)
         .where(AL.c.consumer_id == consumer_id))
    return conn.execute(q).all()


def get_for_consumer(req: Req) -> Resp:
    uuid = req.params["consumer_uuid"]
    out: dict = {"allocations": {}}
    when = None
    with req.service.db.read() as conn:
        consumer = conn.execute(select(CO).where(CO.c.uuid == uuid)).first()
        rows = _consumer_allocations(conn, consumer.id) if consumer else []
        for rp_uuid, gen, rc, used, updated in rows:
            entry = out["allocations"].setdefault(rp_uuid, {"resources": {}})
            entry["resources"][rc] = used
            entry["generation"] = gen
            when = max(when, updated) if when and updated else (updated or when)
        if consumer is not None and req.want(12):
            out["project_id"], out["user_id"] = consumer.project_id, consumer.user_id
            if req.want(28):
                out["consumer_generation"] = consumer.generation
            if req.want(38):
                out["consumer_type"] = _type_name(conn, consumer.type_id)
    return Resp(200, out).modified(req, when)


def _type_name(conn, type_id: int | None) -> str:  # noqa: ANN001
    if type_id is None:
        return "unknown"
    return conn.execute(select(s.consumer_types.c.name).where(s.consumer_types.c.id == type_id)).scalar_one()


def get_for_provider(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.read() as conn:
        rp = queries.provider(conn, uuid)
        if rp is None:
            raise errors.not_found(f"Resource provider '{uuid}' not found: No resource provider with "
                                   f"uuid {uuid} found")
        q = (select(CO.c.uuid, CO.c.generation, s.resource_classes.c.name, AL.c.used, AL.c.updated_at)
             .join(CO, CO.c.id == AL.c.consumer_id)
             .join(s.resource_classes, s.resource_classes.c.id == AL.c.rc_id)
             .where(AL.c.provider_id == rp.id))
        allocs: dict = {}
        when = None
        for cuuid, cgen, rc, used, updated in conn.execute(q):
            entry = allocs.setdefault(cuuid, {"resources": {}})
            entry["resources"][rc] = used
            if req.want(28):
                entry["consumer_generation"] = cgen
            when = max(when, updated) if when and updated else (updated or when)
    return Resp(200, {"allocations": allocs, "resource_provider_generation": rp.generation}).modified(req, when)


def _request_from(req: Req, uuid: str, data: dict) -> claims.ConsumerRequest:
    allocations = data["allocations"]
    if isinstance(allocations, list):
        allocations = {a["resource_provider"]["uuid"]: {"resources": a["resources"]} for a in allocations}
    return claims.ConsumerRequest(
        uuid=uuid, project_id=data.get("project_id"), user_id=data.get("user_id"),
        generation=data.get("consumer_generation"), consumer_type=data.get("consumer_type"),
        allocations={rp: dict(v["resources"]) for rp, v in allocations.items()})


def put_for_consumer(req: Req) -> Resp:
    uuid = req.params["consumer_uuid"]
    if not is_uuid(uuid):
        raise errors.bad_request(f"Malformed consumer_uuid: {uuid}")
    uuid = str(uuidlib.UUID(uuid))
    data = req.json(alloc_schemas.consumer_schema(req.version))
    cr = _request_from(req, uuid, data)
    with req.service.db.write() as tx:
        claims.replace(tx, req.version, [cr],
                       "Allocation for resource provider '%(rp_uuid)s' that does not exist.")
    return Resp(204)


def post(req: Req) -> Resp:
    data = req.json(alloc_schemas.post_schema(req.version))
    requests = [_request_from(req, uuid, body) for uuid, body in data.items()]
    with req.service.db.write() as tx:
        claims.replace(tx, req.version, requests,
                       "Allocation for resource provider '%(rp_uuid)s' that does not exist.")
    return Resp(204)


def delete_for_consumer(req: Req) -> Resp:
    uuid = req.params["consumer_uuid"]
    with req.service.db.write() as tx:
        consumer = tx.conn.execute(select(CO).where(CO.c.uuid == uuid)).first()
        providers = []
        if consumer is not None:
            providers = tx.conn.execute(select(AL.c.provider_id).where(
                AL.c.consumer_id == consumer.id)).scalars().all()
        if not providers:
            raise errors.not_found(f"No allocations for consumer '{uuid}'")
        tx.conn.execute(delete(AL).where(AL.c.consumer_id == consumer.id))
        tx.conn.execute(delete(CO).where(CO.c.id == consumer.id))
        for pid in set(providers):
            tx.touch(pid, "alloc")
    return Resp(204)
