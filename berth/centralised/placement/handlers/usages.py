"""Handlers for /resource_providers/{uuid}/usages and GET /usages (1.9+, grouped by consumer type at 1.38+)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from berth.centralised.placement import errors, qs, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.request import Req, Resp

AL, CO, RC, CT = s.allocations, s.consumers, s.resource_classes, s.consumer_types
_ID = {"type": "string", "minLength": 1, "maxLength": 255}


def provider_usages(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.read() as conn:
        missing = f"No resource provider with uuid {uuid} found"
        rp = queries.provider_or_404(conn, uuid, f"{missing}: {missing}", errors.DEFAULT)
        inv = conn.execute(select(RC.c.name).join(s.inventories, s.inventories.c.rc_id == RC.c.id)
                           .where(s.inventories.c.provider_id == rp.id)).scalars().all()
        used = dict(conn.execute(select(RC.c.name, func.sum(AL.c.used)).join(AL, AL.c.rc_id == RC.c.id)
                                 .where(AL.c.provider_id == rp.id).group_by(RC.c.name)).all())
    usages = {name: int(used.get(name, 0)) for name in inv}
    usages.update({k: int(v) for k, v in used.items()})
    return Resp(200, {"resource_provider_generation": rp.generation, "usages": usages}).modified(req, None)


def _schema(req: Req) -> dict:
    props = {"project_id": _ID, "user_id": _ID}
    if req.want(38):
        props["consumer_type"] = {"type": "string", "pattern": "^[A-Z0-9_]+$|^all|^unknown$",
                                  "minLength": 1, "maxLength": 255}
    return {"type": "object", "properties": props, "required": ["project_id"], "additionalProperties": False}


def total_usages(req: Req) -> Resp:
    qs.validate(req, _schema(req))
    project, user = req.get("project_id"), req.get("user_id")
    ctype = req.get("consumer_type")
    q = (select(RC.c.name, AL.c.used, CO.c.id, CT.c.name.label("ctype"))
         .join(AL, AL.c.rc_id == RC.c.id).join(CO, CO.c.id == AL.c.consumer_id)
         .outerjoin(CT, CT.c.id == CO.c.type_id).where(CO.c.project_id == project))
    if user is not None:
        q = q.where(CO.c.user_id == user)
    with req.service.db.read() as conn:
        rows = conn.execute(q).all()
    if not req.want(38):
        totals: dict[str, int] = defaultdict(int)
        for rc, used, _cid, _ct in rows:
            totals[rc] += used
        return Resp(200, {"usages": dict(totals)}).modified(req, None)
    return Resp(200, {"usages": _by_type(rows, ctype)}).modified(req, None)


def _by_type(rows, ctype: str | None) -> dict:  # noqa: ANN001
    groups: dict[str, dict] = {}
    consumers: dict[str, set] = defaultdict(set)
    for rc, used, cid, ct in rows:
        key = ct or "unknown"
        if ctype == "all":
            key = "all"
        elif ctype == "unknown" and ct is not None:
            continue
        elif ctype not in (None, "all", "unknown") and ct != ctype:
            continue
        g = groups.setdefault(key, {})
        g[rc] = g.get(rc, 0) + used
        consumers[key].add(cid)
    for key, g in groups.items():
        g["consumer_count"] = len(consumers[key])
    return groups
