"""Handlers for /resource_providers/{uuid}/aggregates (1.1+; generation-checked from 1.19)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from berth.centralised.placement import errors, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.request import Req, Resp

_LIST = {"type": "array", "items": {"type": "string", "format": "uuid"}, "uniqueItems": True}
_WITH_GEN = {"type": "object", "properties": {"aggregates": _LIST, "resource_provider_generation": {"type": "integer"}},
             "required": ["aggregates", "resource_provider_generation"], "additionalProperties": False}
A, PA = s.aggregates, s.provider_aggregates


def _payload(req: Req, aggs: list[str], generation: int) -> dict:
    body: dict = {"aggregates": aggs}
    if req.want(19):
        body["resource_provider_generation"] = generation
    return body


def get(req: Req) -> Resp:
    with req.service.db.read() as conn:
        rp = queries.provider_or_404(conn, req.params["uuid"])
        aggs = queries.provider_aggregates(conn, rp.id)
    return Resp(200, _payload(req, aggs, rp.generation)).modified(req, None)


def _agg_id(conn, uuid: str) -> int:  # noqa: ANN001
    found = conn.execute(select(A.c.id).where(A.c.uuid == uuid)).scalar_one_or_none()
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            return conn.execute(insert(A).values(uuid=uuid)).inserted_primary_key[0]
    except IntegrityError:
        return conn.execute(select(A.c.id).where(A.c.uuid == uuid)).scalar_one()


def put(req: Req) -> Resp:
    with req.service.db.write() as tx:
        conn = tx.conn
        rp = queries.provider_or_404(conn, req.params["uuid"])
        data = req.json(_WITH_GEN if req.want(19) else _LIST)
        if req.want(19):
            if data["resource_provider_generation"] != rp.generation:
                raise errors.concurrent("Resource provider's generation already changed. Please update "
                                        "the generation and try again.")
            aggs = data["aggregates"]
        else:
            aggs = data
        ids = [_agg_id(conn, a) for a in aggs]
        conn.execute(delete(PA).where(PA.c.provider_id == rp.id))
        if ids:
            conn.execute(insert(PA), [{"provider_id": rp.id, "aggregate_id": i} for i in ids])
        gen = queries.bump_generation(conn, rp) if req.want(19) else rp.generation
        tx.touch(rp.id, "aggs")
    return Resp(200, _payload(req, aggs, gen)).modified(req, None)
