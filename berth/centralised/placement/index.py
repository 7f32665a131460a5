"""The in-memory columnar index of providers that answers candidate and filter queries.

One row per resource provider, one column per resource class: `total`, `reserved`,
`min_unit`, `max_unit`, `step`, `ratio`, `used` (int64/float64 NumPy matrices, zero where a
provider has no inventory) plus tree columns (`parent`, `root`), trait and aggregate
membership (name -> bool row mask, built lazily) -- the same layout idea as the engine's
`Snapshot`, specialised to Placement's vocabulary.

Coherence: every committed write bumps the database serial (`berth.centralised.placement.db`).
`Index.current()` first asks the database's `change_token()` (SQLite: `PRAGMA data_version`,
a few microseconds, no SQL table read); while it equals the token seen just before the view's
serial was last confirmed, nothing has been committed since and the view is answered as is.
Otherwise (and always on PostgreSQL, which has no such probe) it reads the serial (one
indexed row) and, if it moved, re-reads only the providers named in the change rows since
the last serial (allocation/inventory changes), or the whole picture on structural changes.
So each API worker's index is at least as fresh as the last commit that completed before the
query began, whichever worker or process made it.  Claims never trust the index: they are
generation-checked SQL transactions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select

from berth.centralised.placement import schema as s

INCREMENTAL_KINDS = frozenset({"alloc", "inv"})
"""Change kinds that only alter rows' numbers (no new providers, classes, tree moves)."""


@dataclass(frozen=True)
class Column:
    """`View.column(c)`: contiguous copies of column c (`step` floored at 1; `unit_steps`:
    every step is 1, so any amount is a multiple)."""

    has: np.ndarray
    used: np.ndarray
    capacity: np.ndarray
    min_unit: np.ndarray
    max_unit: np.ndarray
    step: np.ndarray
    unit_steps: bool


@dataclass
class View:
    """An immutable-by-convention picture of all providers at one serial."""

    serial: int = -1
    uuids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    generation: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    parent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    root: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rc_names: list[str] = field(default_factory=list)
    rc_col: dict[str, int] = field(default_factory=dict)
    has: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    total: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    reserved: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    min_unit: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    max_unit: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    step: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    ratio: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float64))
    used: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    traits: list[frozenset[str]] = field(default_factory=list)
    trait_lists: list[tuple[str, ...]] = field(default_factory=list)
    aggs: list[frozenset[str]] = field(default_factory=list)
    trait_names: frozenset[str] = frozenset()
    row_of_uuid: dict[str, int] = field(default_factory=dict)
    row_of_id: dict[int, int] = field(default_factory=dict)
    _masks: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.uuids)

    @property
    def capacity(self) -> np.ndarray:
        """(total - reserved) * allocation_ratio, as float (upstream compares floats)."""
        cap = self._masks.get("capacity")
        if cap is None:
            cap = (self.total - self.reserved) * self.ratio
            self._masks["capacity"] = cap
        return cap

    def column(self, col: int) -> "Column":
        """One resource class's inventory and usage as contiguous arrays (cached per view)."""
        key = ("col", col)
        found = self._masks.get(key)
        if found is None:
            step = np.ascontiguousarray(self.step[:, col])
            found = self._masks[key] = Column(
                np.ascontiguousarray(self.has[:, col]), np.ascontiguousarray(self.used[:, col]),
                np.ascontiguousarray(self.capacity[:, col]), np.ascontiguousarray(self.min_unit[:, col]),
                np.ascontiguousarray(self.max_unit[:, col]), np.maximum(step, 1), bool((step <= 1).all()))
        return found

    def is_flat(self) -> bool:
        """Every provider is the root of its own one-provider tree."""
        found = self._masks.get("flat")
        if found is None:
            found = self._masks["flat"] = bool((self.root == np.arange(len(self))).all()) \
                and bool((self.parent < 0).all())
        return found

    def trait_mask(self, name: str) -> np.ndarray:
        key = ("t", name)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.fromiter((name in t for t in self.traits), bool, len(self.traits))
            self._masks[key] = mask
        return mask

    def agg_mask(self, agg: str) -> np.ndarray:
        key = ("a", agg)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.fromiter((agg in a for a in self.aggs), bool, len(self.aggs))
            self._masks[key] = mask
        return mask

    def children(self) -> dict[int, list[int]]:
        kids = self._masks.get("children")
        if kids is None:
            kids = {}
            for row, par in enumerate(self.parent.tolist()):
                if par >= 0:
                    kids.setdefault(par, []).append(row)
            self._masks["children"] = kids
        return kids

    def tree_rows(self) -> dict[int, list[int]]:
        """root row -> rows of its tree, in row order."""
        trees = self._masks.get("trees")
        if trees is None:
            trees = {}
            for row, root in enumerate(self.root.tolist()):
                trees.setdefault(root, []).append(row)
            self._masks["trees"] = trees
        return trees


class Index:
    """Keeps a `View` coherent with the database; thread-safe."""

    def __init__(self, db) -> None:  # noqa: ANN001 - Database
        self.db = db
        self._view = View()
        self._lock = threading.Lock()
        self._fresh: tuple[object, View] = (None, self._view)

    def peek(self) -> View | None:
        """The view if the change token shows it is current (no SQL), else None."""
        token, view = self._fresh
        if token is not None and token == self.db.change_token():
            return view
        return None

    def current(self) -> View:
        """The view at (at least) the latest committed serial."""
        token = self.db.change_token()
        seen, view = self._fresh
        if token is not None and token == seen:
            return view
        with self.db.read() as conn:
            serial = self.db.serial(conn)
            with self._lock:
                view = self._view
                if serial > view.serial:
                    self._view = view = self._catch_up(conn, view, serial)
                # `view` reflects every commit before `token` was read: record the pair.
                self._fresh = (token, view)
            return view

    def _catch_up(self, conn, view: View, serial: int) -> View:  # noqa: ANN001
        if view.serial >= 0:
            rows = conn.execute(select(s.changes.c.provider_id, s.changes.c.kind).where(
                (s.changes.c.serial > view.serial) & (s.changes.c.serial <= serial))).all()
            earliest = conn.execute(select(func.min(s.changes.c.serial))).scalar()
            complete = earliest is not None and earliest <= view.serial + 1
            if complete and rows and all(k in INCREMENTAL_KINDS for _p, k in rows):
                return _patch(conn, view, serial, {p for p, _k in rows})
        return load(conn, serial)


def _query_inventory(conn, provider_ids=None):  # noqa: ANN001
    inv = s.inventories
    q = select(inv.c.provider_id, inv.c.rc_id, inv.c.total, inv.c.reserved, inv.c.min_unit,
               inv.c.max_unit, inv.c.step_size, inv.c.allocation_ratio)
    if provider_ids is not None:
        q = q.where(inv.c.provider_id.in_(provider_ids))
    return conn.execute(q).all()


def _query_used(conn, provider_ids=None):  # noqa: ANN001
    al = s.allocations
    q = select(al.c.provider_id, al.c.rc_id, func.sum(al.c.used)).group_by(al.c.provider_id, al.c.rc_id)
    if provider_ids is not None:
        q = q.where(al.c.provider_id.in_(provider_ids))
    return conn.execute(q).all()


def load(conn, serial: int) -> View:  # noqa: ANN001
    """Read every provider, inventory, usage, trait and aggregate into a fresh View."""
    v = View(serial=serial)
    rps = conn.execute(select(s.providers.c.id, s.providers.c.uuid, s.providers.c.name,
                              s.providers.c.generation, s.providers.c.parent_id,
                              s.providers.c.root_id).order_by(s.providers.c.id)).all()
    v.uuids = [r.uuid for r in rps]
    v.names = [r.name for r in rps]
    v.ids = np.array([r.id for r in rps], np.int64)
    v.generation = np.array([r.generation for r in rps], np.int64)
    v.row_of_uuid = {u: i for i, u in enumerate(v.uuids)}
    v.row_of_id = {int(pid): i for i, pid in enumerate(v.ids.tolist())}
    v.parent = np.array([v.row_of_id.get(r.parent_id, -1) for r in rps], np.int64)
    v.root = np.array([v.row_of_id.get(r.root_id, i) for i, r in enumerate(rps)], np.int64)
    rcs = conn.execute(select(s.resource_classes.c.id, s.resource_classes.c.name)
                       .order_by(s.resource_classes.c.id)).all()
    v.rc_names = [r.name for r in rcs]
    v.rc_col = {r.name: i for i, r in enumerate(rcs)}
    col_of_rc = {r.id: i for i, r in enumerate(rcs)}
    _alloc_matrices(v, len(rps), len(rcs))
    _fill_inventory(v, _query_inventory(conn), col_of_rc)
    _fill_used(v, _query_used(conn), col_of_rc)
    _fill_sets(conn, v)
    v.trait_names = frozenset(conn.execute(select(s.traits.c.name)).scalars())
    v._masks["col_of_rc"] = col_of_rc
    return v


def _alloc_matrices(v: View, n: int, k: int) -> None:
    for name in ("total", "reserved", "min_unit", "max_unit", "step", "used"):
        setattr(v, name, np.zeros((n, k), np.int64))
    v.ratio = np.zeros((n, k), np.float64)
    v.has = np.zeros((n, k), bool)


def _fill_inventory(v: View, rows, col_of_rc: dict[int, int]) -> None:  # noqa: ANN001
    for pid, rc, total, reserved, mn, mx, step, ratio in rows:
        r, c = v.row_of_id[pid], col_of_rc[rc]
        v.has[r, c] = True
        v.total[r, c], v.reserved[r, c], v.min_unit[r, c] = total, reserved, mn
        v.max_unit[r, c], v.step[r, c], v.ratio[r, c] = mx, step, ratio


def _fill_used(v: View, rows, col_of_rc: dict[int, int]) -> None:  # noqa: ANN001
    for pid, rc, used in rows:
        row = v.row_of_id.get(pid)
        if row is not None and rc in col_of_rc:
            v.used[row, col_of_rc[rc]] = used


def _fill_sets(conn, v: View) -> None:  # noqa: ANN001
    traits: list[list[str]] = [[] for _ in v.uuids]
    q = select(s.provider_traits.c.provider_id, s.traits.c.name).join(
        s.traits, s.traits.c.id == s.provider_traits.c.trait_id).order_by(s.traits.c.id)
    for pid, name in conn.execute(q):
        if pid in v.row_of_id:
            traits[v.row_of_id[pid]].append(name)
    aggs: list[set[str]] = [set() for _ in v.uuids]
    q = select(s.provider_aggregates.c.provider_id, s.aggregates.c.uuid).join(
        s.aggregates, s.aggregates.c.id == s.provider_aggregates.c.aggregate_id)
    for pid, agg in conn.execute(q):
        if pid in v.row_of_id:
            aggs[v.row_of_id[pid]].add(agg)
    v.traits = [frozenset(t) for t in traits]
    v.trait_lists = [tuple(t) for t in traits]
    v.aggs = [frozenset(a) for a in aggs]


def _patch(conn, old: View, serial: int, provider_ids: set) -> View:  # noqa: ANN001
    """A copy of `old` with inventories, usage and generations re-read for some providers."""
    ids = sorted(p for p in provider_ids if p is not None and p in old.row_of_id)
    v = View(**{k: getattr(old, k) for k in old.__dataclass_fields__ if k != "_masks"})
    v.serial = serial
    structural = ("col_of_rc", "children", "trees", "tree_size", "is_root", "flat", "quoted_uuids",
                  "quoted_array")
    v._masks = {k: old._masks[k] for k in structural if k in old._masks}  # no tree/uuid changes
    for key in [k for k in old._masks if isinstance(k, tuple) and k[0] in ("t", "a")]:
        v._masks[key] = old._masks[key]  # trait and aggregate membership: unchanged by a patch
    for name in ("total", "reserved", "min_unit", "max_unit", "step", "used", "ratio", "has",
                 "generation"):
        setattr(v, name, getattr(old, name).copy())
    if not ids:
        return v
    rows = [old.row_of_id[p] for p in ids]
    for key in [k for k in old._masks if isinstance(k, tuple) and k[0] == "summaries"]:
        kept = dict(old._masks[key])  # per-row summaries carry usage: drop the patched rows
        for r in rows:
            kept.pop(r, None)
        v._masks[key] = kept
    for name in ("total", "reserved", "min_unit", "max_unit", "step", "used", "ratio", "has"):
        getattr(v, name)[rows] = 0
    col_of_rc = v._masks["col_of_rc"]
    _fill_inventory(v, _query_inventory(conn, ids), col_of_rc)
    _fill_used(v, _query_used(conn, ids), col_of_rc)
    gens = conn.execute(select(s.providers.c.id, s.providers.c.generation)
                        .where(s.providers.c.id.in_(ids))).all()
    for pid, gen in gens:
        v.generation[v.row_of_id[pid]] = gen
    return v
