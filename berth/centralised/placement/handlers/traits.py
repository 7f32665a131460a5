"""Handlers for /traits and /resource_providers/{uuid}/traits.

Standard traits come from os-traits and cannot be deleted; custom traits need the CUSTOM_
prefix.  Setting a provider's traits is a generation-checked replace.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from berth.centralised.placement import errors, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.db import utcnow
from berth.centralised.placement.request import Req, Resp

T, PT = s.traits, s.provider_traits
_CUSTOM = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
SET_SCHEMA = {"type": "object", "properties": {
    "traits": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 255}},
    "resource_provider_generation": {"type": "integer"}},
    "required": ["traits", "resource_provider_generation"], "additionalProperties": False}
LIST_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "associated": {"type": "string"}},
               "additionalProperties": False}


def _name_filter(text: str):  # noqa: ANN201
    if ":" not in text:
        raise errors.bad_request('Badly formatted name parameter. Expected name query string parameter in '
                                 f'form: ?name=[in|startswith]:[name1,name2|prefix]. Got: "{text}"')
    op, value = text.split(":", 1)
    if op == "in":
        return T.c.name.in_(value.split(","))
    if op == "startswith":
        return T.c.name.startswith(value, autoescape=True)
    raise errors.bad_request('Badly formatted name parameter. Expected name query string parameter in '
                             f'form: ?name=[in|startswith]:[name1,name2|prefix]. Got: "{text}"')


def listing(req: Req) -> Resp:
    from berth.centralised.placement import qs
    qs.validate(req, LIST_SCHEMA)
    q = select(T.c.name).order_by(T.c.name)
    if req.get("name") is not None:
        q = q.where(_name_filter(req.get("name")))
    assoc = req.get("associated")
    if assoc is not None:
        if assoc.lower() not in ("true", "false"):
            raise errors.bad_request('The query parameter "associated" only accepts "true" or "false"')
        linked = select(PT.c.trait_id)
        q = q.where(T.c.id.in_(linked) if assoc.lower() == "true" else T.c.id.not_in(linked))
    with req.service.db.read() as conn:
        names = conn.execute(q).scalars().all()
    return Resp(200, {"traits": names}).modified(req, None)


def show(req: Req) -> Resp:
    name = req.params["name"]
    with req.service.db.read() as conn:
        row = conn.execute(select(T).where(T.c.name == name)).first()
    if row is None:
        raise errors.not_found(f"No such trait(s): {name}.")
    return Resp(204).modified(req, row.updated_at or row.created_at)


def put(req: Req) -> Resp:
    name = req.params["name"]
    if not _CUSTOM.match(name) or len(name) > 255:
        raise errors.bad_request('The trait is invalid. A valid trait must be no longer than 255 '
                                 'characters, start with the prefix "CUSTOM_" and use following '
                                 'characters: "A"-"Z", "0"-"9" and "_"')
    status = 204
    with req.service.db.write() as tx:
        if tx.conn.execute(select(T.c.id).where(T.c.name == name)).first() is None:
            try:
                with tx.conn.begin_nested():
                    tx.conn.execute(insert(T).values(name=name, created_at=utcnow()))
                status = 201
                tx.touch(None, "vocab")
            except IntegrityError:
                pass
    return Resp(status, None, {"location": f"/traits/{name}"}).modified(req, None)


def remove(req: Req) -> Resp:
    name = req.params["name"]
    with req.service.db.write() as tx:
        row = tx.conn.execute(select(T).where(T.c.name == name)).first()
        if row is None:
            raise errors.not_found(f"No such trait(s): {name}.")
        if not name.startswith("CUSTOM_"):
            raise errors.bad_request(f"Cannot delete standard trait {name}.")
        if tx.conn.execute(select(func.count()).select_from(PT).where(PT.c.trait_id == row.id)).scalar_one():
            raise errors.conflict(f"The trait {name} is in use by a resource provider.")
        tx.conn.execute(delete(T).where(T.c.id == row.id))
        tx.touch(None, "vocab")
    return Resp(204)


def provider_traits(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.read() as conn:
        missing = f"No resource provider with uuid {uuid} found"
        rp = queries.provider_or_404(conn, uuid, f"{missing}: {missing}", errors.DEFAULT)
        names = queries.provider_traits(conn, rp.id)
    return Resp(200, {"traits": names, "resource_provider_generation": rp.generation}).modified(req, None)


def set_provider_traits(req: Req) -> Resp:
    uuid = req.params["uuid"]
    data = req.json(SET_SCHEMA)
    with req.service.db.write() as tx:
        conn = tx.conn
        rp = queries.provider_or_404(conn, uuid)
        if rp.generation != data["resource_provider_generation"]:
            raise errors.concurrent("Resource provider's generation already changed. Please update the "
                                    "generation and try again.")
        ids = queries.trait_ids(conn, data["traits"])
        missing = [t for t in data["traits"] if t not in ids]
        if missing:
            raise errors.bad_request(f"No such trait {', '.join(missing)}")
        _replace(conn, rp, set(ids.values()))
        gen = queries.bump_generation(conn, rp)
        tx.touch(rp.id, "traits")
    return Resp(200, {"traits": sorted(ids), "resource_provider_generation": gen}).modified(req, None)


def _replace(conn, rp, trait_ids: set[int]) -> None:  # noqa: ANN001
    conn.execute(delete(PT).where(PT.c.provider_id == rp.id))
    if trait_ids:
        conn.execute(insert(PT), [{"provider_id": rp.id, "trait_id": t} for t in sorted(trait_ids)])


def delete_provider_traits(req: Req) -> Resp:
    with req.service.db.write() as tx:
        rp = queries.provider_or_404(tx.conn, req.params["uuid"])
        _replace(tx.conn, rp, set())
        queries.bump_generation(tx.conn, rp)
        tx.touch(rp.id, "traits")
    return Resp(204)
