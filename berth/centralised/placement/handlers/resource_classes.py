"""Handlers for /resource_classes: the standard classes (os-resource-classes) plus CUSTOM_ ones.

Standard classes cannot be renamed or deleted; a custom class in use by an inventory cannot
be deleted.  PUT is a rename below 1.7 and an idempotent create (201/204) from 1.7 on.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.centralised.placement import errors
from berth.centralised.placement import schema as s
from berth.centralised.placement.db import CUSTOM_RC_BASE, utcnow
from berth.centralised.placement.request import Req, Resp

RC = s.resource_classes
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]+$",
                                                         "maxLength": 255}},
               "required": ["name"], "additionalProperties": False}


def _body(name: str) -> dict:
    return {"name": name, "links": [{"rel": "self", "href": f"/resource_classes/{name}"}]}


def _row(conn, name: str):  # noqa: ANN001
    return conn.execute(select(RC).where(RC.c.name == name)).first()


def _row_or_404(conn, name: str):  # noqa: ANN001
    row = _row(conn, name)
    if row is None:
        raise errors.not_found(f"No such resource class {name}.")
    return row


def _next_id(conn) -> int:  # noqa: ANN001
    top = conn.execute(select(func.max(RC.c.id))).scalar() or 0
    return max(top + 1, CUSTOM_RC_BASE)


def _insert(conn, tx, name: str) -> bool:  # noqa: ANN001
    try:
        with conn.begin_nested():
            conn.execute(insert(RC).values(id=_next_id(conn), name=name, created_at=utcnow()))
    except IntegrityError:
        return False
    tx.touch(None, "rc")
    return True


def listing(req: Req) -> Resp:
    with req.service.db.read() as conn:
        names = conn.execute(select(RC.c.name).order_by(RC.c.id)).scalars().all()
    return Resp(200, {"resource_classes": [_body(n) for n in names]}).modified(req, None)


def show(req: Req) -> Resp:
    with req.service.db.read() as conn:
        row = _row_or_404(conn, req.params["name"])
    return Resp(200, _body(row.name)).modified(req, row.updated_at or row.created_at)


def create(req: Req) -> Resp:
    data = req.json(NAME_SCHEMA)
    with req.service.db.write() as tx:
        if _row(tx.conn, data["name"]) is not None or not _insert(tx.conn, tx, data["name"]):
            raise errors.conflict(f"Conflicting resource class already exists: {data['name']}")
    return Resp(201, None, {"location": f"/resource_classes/{data['name']}"})


def rename(req: Req) -> Resp:
    """PUT below 1.7: rename a custom class."""
    name = req.params["name"]
    data = req.json(NAME_SCHEMA)
    with req.service.db.write() as tx:
        row = _row_or_404(tx.conn, name)
        if row.id < CUSTOM_RC_BASE:
            raise errors.bad_request(f"Cannot update standard resource class {name}")
        if _row(tx.conn, data["name"]) is not None:
            raise errors.conflict(f"Resource class already exists: {data['name']}")
        tx.conn.execute(update(RC).where(RC.c.id == row.id).values(name=data["name"], updated_at=utcnow()))
        tx.touch(None, "rc")
    return Resp(200, _body(data["name"]))


def ensure(req: Req) -> Resp:
    """PUT from 1.7: create a custom class if missing (201), else 204."""
    name = req.params["name"]
    import jsonschema
    try:
        jsonschema.validate({"name": name}, NAME_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise errors.bad_request(f"JSON does not validate: {exc}") from None
    status = 204
    with req.service.db.write() as tx:
        if _row(tx.conn, name) is None and _insert(tx.conn, tx, name):
            status = 201
    return Resp(status, None, {"location": f"/resource_classes/{name}"})


def remove(req: Req) -> Resp:
    name = req.params["name"]
    with req.service.db.write() as tx:
        row = _row_or_404(tx.conn, name)
        if row.id < CUSTOM_RC_BASE:
            raise errors.bad_request(f"Error in delete resource class: Cannot delete standard resource "
                                     f"class {name}.")
        used = tx.conn.execute(select(func.count()).select_from(s.inventories)
                               .where(s.inventories.c.rc_id == row.id)).scalar_one()
        if used:
            raise errors.conflict(f"Error in delete resource class: Cannot delete resource class {name}. "
                                  "Class is in use in inventory.")
        tx.conn.execute(delete(RC).where(RC.c.id == row.id))
        tx.touch(None, "rc")
    return Resp(204)


def put(req: Req) -> Resp:
    """PUT /resource_classes/{name}: rename below 1.7, idempotent create from 1.7."""
    return ensure(req) if req.want(7) else rename(req)
