"""Handlers for /resource_providers and /resource_providers/{uuid}: create, show, list, update, delete.

Listing filters (name, uuid, member_of, resources, in_tree, required) run on the in-memory
index; writes are SQL transactions that record which providers changed.
"""

from __future__ import annotations

import uuid as uuidlib

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.centralised.placement import errors, qs, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.db import utcnow
from berth.centralised.placement.errors import ApiError
from berth.centralised.placement.request import Req, Resp
from berth.centralised.placement.handlers import provider_filter

RP = s.providers
_UUID = {"type": "string", "format": "uuid"}
_PARENT = {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}]}


def _body_schema(req: Req, with_uuid: bool) -> dict:
    props: dict = {"name": {"type": "string", "maxLength": 200}}
    if with_uuid:
        props["uuid"] = _UUID
    if req.want(14):
        props["parent_provider_uuid"] = _PARENT
    return {"type": "object", "properties": props, "required": ["name"], "additionalProperties": False}


def links(req: Req, uuid: str) -> list[dict]:
    url = f"/resource_providers/{uuid}"
    rels = ["inventories", "usages"]
    rels += ["aggregates"] if req.want(1) else []
    rels += ["traits"] if req.want(6) else []
    rels += ["allocations"] if req.want(11) else []
    return [{"rel": "self", "href": url}] + [{"rel": r, "href": f"{url}/{r}"} for r in rels]


def serialize(req: Req, uuid: str, name: str, generation: int, parent: str | None,
              root: str | None) -> dict:
    data = {"uuid": uuid, "name": name, "generation": generation, "links": links(req, uuid)}
    if req.want(14):
        data["parent_provider_uuid"] = parent
        data["root_provider_uuid"] = root
    return data


def _serialize_row(req: Req, conn, row) -> dict:  # noqa: ANN001
    return serialize(req, row.uuid, row.name, row.generation, queries.uuid_of(conn, row.parent_id),
                     queries.uuid_of(conn, row.root_id))


def create(req: Req) -> Resp:
    data = req.json(_body_schema(req, True))
    rp_uuid = str(uuidlib.UUID(data["uuid"])) if data.get("uuid") else str(uuidlib.uuid4())
    parent_uuid = data.get("parent_provider_uuid")
    now = utcnow()
    with req.service.db.write() as tx:
        conn = tx.conn
        dup = [f"uuid: {rp_uuid}"] if queries.provider(conn, rp_uuid) else []
        if conn.execute(select(RP.c.id).where(RP.c.name == data["name"])).first():
            dup.append(f"name: {data['name']}")
        if dup:
            raise errors.conflict(f"Conflicting resource provider {', '.join(dup)} already exists.",
                                  errors.DUPLICATE_NAME)
        parent_id = root_id = None
        if parent_uuid is not None:
            if parent_uuid == rp_uuid:
                raise _action_error(data, rp_uuid, "parent provider UUID cannot be same as UUID. "
                                    "Please set parent provider UUID to None if there is no parent.")
            parent = queries.provider(conn, parent_uuid)
            if parent is None:
                raise _action_error(data, rp_uuid, "parent provider UUID does not exist.")
            parent_id, root_id = parent.id, parent.root_id
        try:
            new_id = conn.execute(insert(RP).values(
                uuid=rp_uuid, name=data["name"], generation=0, parent_id=parent_id, root_id=root_id,
                created_at=now, updated_at=now)).inserted_primary_key[0]
        except IntegrityError:
            raise errors.conflict(f"Conflicting resource provider name: {data['name']} already "
                                  "exists.", errors.DUPLICATE_NAME) from None
        if root_id is None:
            conn.execute(update(RP).where(RP.c.id == new_id).values(root_id=new_id))
        tx.touch(new_id, "tree")
        row = conn.execute(select(RP).where(RP.c.id == new_id)).one()
        body = _serialize_row(req, conn, row)
    headers = {"location": f"/resource_providers/{rp_uuid}"}
    if req.want(20):
        return Resp(200, body, headers).modified(req, now)
    return Resp(201, None, headers)


def _action_error(data: dict, rp_uuid: str, reason: str) -> ApiError:
    return errors.bad_request(f'Unable to create resource provider "{data["name"]}", {rp_uuid}: '
                              f"Object action create failed because: {reason}")


def show(req: Req) -> Resp:
    with req.service.db.read() as conn:
        row = queries.provider_or_404(conn, req.params["uuid"])
        body = _serialize_row(req, conn, row)
    return Resp(200, body).modified(req, row.updated_at or row.created_at)


def listing(req: Req) -> Resp:
    view = req.service.index.current()
    rows = provider_filter.select(req, view)
    out = []
    for r in rows:
        parent = int(view.parent[r])
        out.append(serialize(req, view.uuids[r], view.names[r], int(view.generation[r]),
                             view.uuids[parent] if parent >= 0 else None, view.uuids[int(view.root[r])]))
    return Resp(200, {"resource_providers": out}).modified(req, None)


def update_provider(req: Req) -> Resp:
    schema = _body_schema(req, False)
    with req.service.db.write() as tx:
        conn = tx.conn
        row = queries.provider_or_404(conn, req.params["uuid"])
        data = req.json(schema)
        values: dict = {"name": data["name"], "updated_at": utcnow()}
        if "parent_provider_uuid" in data:
            values.update(_reparent(req, conn, tx, row, data["parent_provider_uuid"]))
        clash = conn.execute(select(RP.c.id).where((RP.c.name == data["name"]) & (RP.c.id != row.id))).first()
        if clash:
            raise errors.conflict(f"Conflicting resource provider {data['name']} already exists.",
                                  errors.DUPLICATE_NAME)
        conn.execute(update(RP).where(RP.c.id == row.id).values(**values))
        tx.touch(row.id, "tree")
        row = conn.execute(select(RP).where(RP.c.id == row.id)).one()
        body = _serialize_row(req, conn, row)
    return Resp(200, body).modified(req, row.updated_at)


def _save_error(uuid: str, reason: str) -> ApiError:
    return errors.bad_request(f"Unable to save resource provider {uuid}: Object action update "
                              f"failed because: {reason}")


def _reparent(req: Req, conn, tx, row, parent_uuid: str | None) -> dict:  # noqa: ANN001
    """Parent change: only from 1.37 may a provider move or become a root."""
    if parent_uuid is None:
        if row.parent_id is None:
            return {}
        if not req.want(37):
            raise _save_error(row.uuid, "un-parenting a provider is not currently allowed.")
        _move_subtree(conn, tx, row, row.id)
        return {"parent_id": None, "root_id": row.id}
    parent = queries.provider(conn, parent_uuid)
    if parent is None:
        raise errors.bad_request(f"Unable to save resource provider {row.uuid}: Object action "
                                 "create failed because: parent provider UUID does not exist.")
    if parent.id == row.parent_id:
        return {}
    if row.parent_id is not None and not req.want(37):
        raise _save_error(row.uuid, "re-parenting a provider is not currently allowed.")
    if parent.id == row.id or parent.id in _subtree_ids(conn, row.id):
        raise _save_error(row.uuid, "creating loop in the provider tree is not allowed.")
    _move_subtree(conn, tx, row, parent.root_id)
    return {"parent_id": parent.id, "root_id": parent.root_id}


def _subtree_ids(conn, provider_id: int) -> set[int]:  # noqa: ANN001
    found, frontier = set(), [provider_id]
    while frontier:
        kids = conn.execute(select(RP.c.id).where(RP.c.parent_id.in_(frontier))).scalars().all()
        kids = [k for k in kids if k not in found]
        found.update(kids)
        frontier = kids
    return found


def _move_subtree(conn, tx, row, new_root: int) -> None:  # noqa: ANN001
    ids = _subtree_ids(conn, row.id)
    if ids:
        conn.execute(update(RP).where(RP.c.id.in_(ids)).values(root_id=new_root))
    for pid in ids:
        tx.touch(pid, "tree")


def delete_provider(req: Req) -> Resp:
    uuid = req.params["uuid"]
    with req.service.db.write() as tx:
        conn = tx.conn
        row = queries.provider(conn, uuid)
        if row is None:
            raise errors.not_found(f"No resource provider with uuid {uuid} found for delete")
        if conn.execute(select(RP.c.id).where(RP.c.parent_id == row.id)).first():
            raise errors.conflict(f"Unable to delete parent resource provider {uuid}: It has child "
                                  "resource providers.", errors.PROVIDER_CANNOT_DELETE_PARENT)
        n = conn.execute(select(func.count()).select_from(s.allocations)
                         .where(s.allocations.c.provider_id == row.id)).scalar_one()
        if n:
            raise errors.conflict(f"Unable to delete resource provider {uuid}: Resource provider "
                                  "has allocations.", errors.PROVIDER_IN_USE)
        for table in (s.inventories, s.provider_aggregates, s.provider_traits):
            conn.execute(delete(table).where(table.c.provider_id == row.id))
        conn.execute(delete(RP).where(RP.c.id == row.id))
        tx.touch(row.id, "tree")
    return Resp(204)
