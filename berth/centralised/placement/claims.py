"""The allocation write path: replace a set of consumers' allocations in one SQL transaction.

`replace(tx, version, requests)` follows upstream's rules: consumer generations are checked
from 1.28 (`null` = must not exist yet), the touched provider rows are locked in id order
(`SELECT ... FOR UPDATE` on PostgreSQL, the immediate write lock on SQLite), usage is
re-read under the lock, min/max/step and capacity `(total - reserved) * ratio` are checked,
then rows are written and each provider receiving allocations (or losing those of a consumer
whose allocations are emptied) gets a compare-and-swap generation bump.  A consumer left without allocations is deleted.  Used by the allocation
and reshaper handlers; nothing here trusts the in-memory index.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from berth.centralised.placement import errors, queries
from berth.centralised.placement import schema as s
from berth.centralised.placement.db import Tx, utcnow
from berth.centralised.placement.microversion import Version

INCOMPLETE = "00000000-0000-0000-0000-000000000000"
RP, AL, CO = s.providers, s.allocations, s.consumers


@dataclass
class ConsumerRequest:
    """What one consumer should hold afterwards: {provider uuid: {class: amount}}."""

    uuid: str
    project_id: str | None
    user_id: str | None
    generation: int | None = None
    consumer_type: str | None = None
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)


def consumer_type_id(conn, name: str | None) -> int | None:  # noqa: ANN001
    if not name:
        return None
    ct = s.consumer_types
    found = conn.execute(select(ct.c.id).where(ct.c.name == name)).scalar_one_or_none()
    if found is not None:
        return found
    try:
        with conn.begin_nested():
            return conn.execute(insert(ct).values(name=name, created_at=utcnow())).inserted_primary_key[0]
    except IntegrityError:  # another claim created it first
        return conn.execute(select(ct.c.id).where(ct.c.name == name)).scalar_one()


def _ensure_consumer(conn, version: Version, cr: ConsumerRequest):  # noqa: ANN001
    """Lock or create the consumer row; check its generation from 1.28."""
    project = cr.project_id if cr.project_id is not None else INCOMPLETE
    user = cr.user_id if cr.project_id is not None else INCOMPLETE
    row = conn.execute(select(CO).where(CO.c.uuid == cr.uuid).with_for_update()).first()
    type_id = consumer_type_id(conn, cr.consumer_type) if version >= (1, 38) else None
    if row is not None:
        if version >= (1, 28) and row.generation != cr.generation:
            raise errors.concurrent(f"consumer generation conflict - expected {row.generation} but "
                                    f"got {cr.generation}")
        values = {"project_id": project, "user_id": user, "updated_at": utcnow()}
        if type_id is not None:
            values["type_id"] = type_id
        conn.execute(update(CO).where(CO.c.id == row.id).values(**values))
        return row.id, row.generation
    if version >= (1, 28) and cr.generation is not None:
        raise errors.concurrent(f"consumer generation conflict - expected null but got {cr.generation}")
    try:
        with conn.begin_nested():
            new_id = conn.execute(insert(CO).values(
                uuid=cr.uuid, project_id=project, user_id=user, generation=0, type_id=type_id,
                created_at=utcnow(), updated_at=utcnow())).inserted_primary_key[0]
    except IntegrityError:
        raise errors.concurrent("consumer generation conflict - expected null but got a consumer "
                                "created concurrently") from None
    return new_id, 0


def _lock_providers(conn, ids: set[int]) -> dict[int, object]:  # noqa: ANN001
    rows = conn.execute(select(RP).where(RP.c.id.in_(sorted(ids))).order_by(RP.c.id).with_for_update()).all()
    return {r.id: r for r in rows}


def _usage(conn, provider_ids, rc_ids) -> dict[tuple[int, int], int]:  # noqa: ANN001
    q = (select(AL.c.provider_id, AL.c.rc_id, func.sum(AL.c.used))
         .where(AL.c.provider_id.in_(provider_ids) & AL.c.rc_id.in_(rc_ids))
         .group_by(AL.c.provider_id, AL.c.rc_id))
    return {(p, r): int(u) for p, r, u in conn.execute(q)}


def _inventory(conn, provider_ids) -> dict[tuple[int, int], object]:  # noqa: ANN001
    inv = s.inventories
    return {(r.provider_id, r.rc_id): r for r in conn.execute(
        select(inv).where(inv.c.provider_id.in_(provider_ids)))}


def _check(conn, wanted, rps_by_uuid, rc_id_of, prev_usage) -> None:  # noqa: ANN001
    """Capacity and unit constraints of the new allocations, after the old ones are gone."""
    ids = [rps_by_uuid[u].id for u in {u for u, _rc, _a in wanted}]
    rcs = list({rc_id_of[rc] for _u, rc, _a in wanted})
    inv, usage = _inventory(conn, ids), _usage(conn, ids, rcs)
    have_inv = {p for p, _r in inv}
    missing = sorted({u for u, _rc, _a in wanted if rps_by_uuid[u].id not in have_inv})
    if missing:
        names = ", ".join(sorted({rc for _u, rc, _a in wanted}))
        raise _invalid(f"Inventory for '{names}' on resource provider '{', '.join(missing)}' invalid.")
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for u, rc, amount in wanted:
        totals[(rps_by_uuid[u].id, rc_id_of[rc])] += amount
    for u, rc, amount in wanted:
        key = (rps_by_uuid[u].id, rc_id_of[rc])
        row = inv.get(key)
        if row is None:
            raise _invalid(f"Inventory for '{rc}' on resource provider '{u}' invalid.")
        if amount < row.min_unit or amount > row.max_unit or amount % row.step_size:
            raise _invalid(f"Unable to create allocation for '{rc}' on resource provider '{u}'. "
                           "The requested amount would violate inventory constraints.")
        used, capacity = usage.get(key, 0), (row.total - row.reserved) * row.allocation_ratio
        if capacity < used + amount or capacity < used + totals[key]:
            prev = prev_usage.get(key)
            if prev is None or used + totals[key] > prev:
                raise _invalid(f"Unable to create allocation for '{rc}' on resource provider '{u}'. "
                               "The requested amount would exceed the capacity.")


def _invalid(detail: str) -> errors.ApiError:
    return errors.conflict(f"Unable to allocate inventory: {detail}")


def replace(tx: Tx, version: Version, requests: list[ConsumerRequest], missing_rp: str) -> None:
    """Make each consumer hold exactly its requested allocations (see module doc)."""
    conn = tx.conn
    rc_id_of = queries.rc_ids(conn)
    uuids = {u for cr in requests for u in cr.allocations}
    found = conn.execute(select(RP.c.id, RP.c.uuid).where(RP.c.uuid.in_(uuids))).all() if uuids else []
    ids_by_uuid = {r.uuid: r.id for r in found}
    for cr in requests:
        for u in cr.allocations:
            if u not in ids_by_uuid:
                raise errors.bad_request(missing_rp % {"rp_uuid": u})
    consumers = {cr.uuid: _ensure_consumer(conn, version, cr) for cr in requests}
    consumer_ids = [cid for cid, _g in consumers.values()]
    old = conn.execute(select(AL.c.provider_id).where(AL.c.consumer_id.in_(consumer_ids))).scalars().all()
    emptied = [consumers[cr.uuid][0] for cr in requests if not cr.allocations]
    wiped = set(conn.execute(select(AL.c.provider_id).where(AL.c.consumer_id.in_(emptied))).scalars()) \
        if emptied else set()
    locked = _lock_providers(conn, set(old) | set(ids_by_uuid.values()))
    rps_by_uuid = {r.uuid: r for r in locked.values()}
    wanted = [(u, rc, amt) for cr in requests for u, res in cr.allocations.items()
              for rc, amt in res.items() if amt > 0]
    for _u, rc, _a in wanted:
        if rc not in rc_id_of:
            raise errors.bad_request(f"Unable to allocate inventory for consumer: No such resource "
                                     f"class {rc}.")
    new_ids = [rps_by_uuid[u].id for u in {u for u, _rc, _a in wanted}]
    prev_usage = _usage(conn, new_ids, [rc_id_of[rc] for _u, rc, _a in wanted]) if wanted else {}
    conn.execute(delete(AL).where(AL.c.consumer_id.in_(consumer_ids)))
    if wanted:
        _check(conn, wanted, rps_by_uuid, rc_id_of, prev_usage)
    now = utcnow()
    rows = [{"provider_id": rps_by_uuid[u].id, "consumer_id": consumers[cr.uuid][0], "rc_id": rc_id_of[rc],
             "used": amt, "created_at": now, "updated_at": now}
            for cr in requests for u, res in cr.allocations.items() for rc, amt in res.items() if amt > 0]
    if rows:
        conn.execute(insert(AL), rows)
    for pid in sorted(set(new_ids) | wiped):
        queries.bump_generation(conn, locked[pid])
    for cr in requests:
        cid, gen = consumers[cr.uuid]
        conn.execute(update(CO).where(and_(CO.c.id == cid, CO.c.generation == gen))
                     .values(generation=gen + 1, updated_at=now))
    _drop_empty_consumers(conn, consumer_ids)
    for pid in set(old) | set(new_ids):
        tx.touch(pid, "alloc")


def _drop_empty_consumers(conn, consumer_ids: list[int]) -> None:  # noqa: ANN001
    busy = set(conn.execute(select(AL.c.consumer_id).where(AL.c.consumer_id.in_(consumer_ids))).scalars())
    empty = [c for c in consumer_ids if c not in busy]
    if empty:
        conn.execute(delete(CO).where(CO.c.id.in_(empty)))
