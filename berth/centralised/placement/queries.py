"""Small SQL helpers shared by the handlers: look-ups by UUID or name, generation bumps.

Each takes an open SQLAlchemy connection (from `Database.read()` / `write()`), so a handler
composes them inside one transaction.  `bump_generation` is the compare-and-swap every
provider write goes through: it raises `placement.concurrent_update` when the generation
the client saw is no longer current.
"""

from __future__ import annotations

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection, Row

from berth.centralised.placement import errors
from berth.centralised.placement import schema as s
from berth.centralised.placement.db import utcnow
from berth.centralised.placement.errors import ApiError

RP = s.providers


def provider(conn: Connection, uuid: str) -> Row | None:
    return conn.execute(select(RP).where(RP.c.uuid == uuid)).first()


def provider_or_404(conn: Connection, uuid: str, detail: str | None = None,
                    code: str = errors.RESOURCE_PROVIDER_NOT_FOUND) -> Row:
    row = provider(conn, uuid)
    if row is None:
        raise ApiError(404, detail or f"No resource provider with uuid {uuid} found", code)
    return row


def uuid_of(conn: Connection, provider_id: int | None) -> str | None:
    if provider_id is None:
        return None
    return conn.execute(select(RP.c.uuid).where(RP.c.id == provider_id)).scalar_one_or_none()


def rc_ids(conn: Connection) -> dict[str, int]:
    return {r.name: r.id for r in conn.execute(select(s.resource_classes.c.id, s.resource_classes.c.name))}


def rc_names(conn: Connection) -> dict[int, str]:
    return {i: n for n, i in rc_ids(conn).items()}


def rc_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(s.resource_classes.c.id).where(
        s.resource_classes.c.name == name)).scalar_one_or_none()


def bump_generation(conn: Connection, row: Row, expected: int | None = None,
                    detail: str | None = None) -> int:
    """Compare-and-swap the provider generation from `expected` (default: row's) to +1."""
    seen = row.generation if expected is None else expected
    done = conn.execute(update(RP).where(and_(RP.c.id == row.id, RP.c.generation == seen))
                        .values(generation=seen + 1, updated_at=utcnow()))
    if done.rowcount != 1:
        raise errors.concurrent(detail or (
            f"resource provider generation conflict for provider {row.uuid}"))
    return seen + 1


def trait_ids(conn: Connection, names) -> dict[str, int]:  # noqa: ANN001 - iterable of str
    names = list(names)
    if not names:
        return {}
    rows = conn.execute(select(s.traits.c.id, s.traits.c.name).where(s.traits.c.name.in_(names)))
    return {r.name: r.id for r in rows}


def provider_traits(conn: Connection, provider_id: int) -> list[str]:
    q = (select(s.traits.c.name).join(s.provider_traits, s.provider_traits.c.trait_id == s.traits.c.id)
         .where(s.provider_traits.c.provider_id == provider_id).order_by(s.traits.c.name))
    return list(conn.execute(q).scalars())


def provider_aggregates(conn: Connection, provider_id: int) -> list[str]:
    q = (select(s.aggregates.c.uuid)
         .join(s.provider_aggregates, s.provider_aggregates.c.aggregate_id == s.aggregates.c.id)
         .where(s.provider_aggregates.c.provider_id == provider_id).order_by(s.aggregates.c.uuid))
    return list(conn.execute(q).scalars())
