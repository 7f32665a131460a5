"""Allocation-candidate generation on the columnar index.

`search(view, query, nested_aware)` turns request groups into per-provider boolean masks
with NumPy (capacity, unit constraints, traits, aggregates, in_tree), finds the anchor trees
that can satisfy every group (`np.bincount` over the root column), and then walks those
trees in order, building candidates as products of per-group options with pruning
(group_policy, merged capacity, same_subtree).  A tree of one provider that fits the
unsuffixed group on its own is emitted without any product at all, and runs of such trees
are returned as one `Singles` block (an array of rows) rather than an object per candidate.
`limit` stops the walk as soon as enough distinct candidates exist, so work is proportional
to the answer.
Sharing providers (trait MISC_SHARES_VIA_AGGREGATE) lend their inventory to every tree that
shares one of their aggregates.  Called by `handlers/candidates.py`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from berth.centralised.placement.acquery import Group, Query
from berth.centralised.placement.handlers.provider_filter import agg_rows, fits, trait_rows
from berth.centralised.placement.index import View

SHARING = "MISC_SHARES_VIA_AGGREGATE"


@dataclass
class Candidate:
    """One allocation request: provider row -> {class: amount}, plus suffix -> provider rows."""

    alloc: dict[int, dict[str, int]]
    mappings: dict[str, list[int]]


class Singles:
    """A run of consecutive candidates, each one whole single-provider tree (`rows`, in order)
    taking all of `resources`: kept as one array instead of an object per candidate."""

    __slots__ = ("rows", "resources")

    def __init__(self, rows: np.ndarray, resources: dict[str, int]) -> None:  # noqa: D107
        self.rows = rows
        self.resources = resources

    def __len__(self) -> int:
        return len(self.rows)

    def expand(self) -> list[Candidate]:
        """The same candidates as `Candidate` values."""
        return [Candidate({r: self.resources}, {"": [r]}) for r in self.rows.tolist()]


@dataclass
class Option:
    """One way to satisfy one group inside an anchor tree."""

    suffix: str
    parts: tuple[tuple[int, str, int], ...]  # (row, class, amount)
    rows: tuple[int, ...]


class Search:
    """State of one candidate search over a view."""

    def __init__(self, view: View, query: Query, nested_aware: bool) -> None:
        self.v = view
        self.q = query
        self.nested_aware = nested_aware
        self.sharing = view.trait_mask(SHARING) if len(view) else np.zeros(0, bool)
        self.anchors: dict[int, set[int]] = {}
        self.tree_size = view._masks.get("tree_size")
        if self.tree_size is None:
            self.tree_size = view._masks["tree_size"] = np.bincount(view.root, minlength=len(view))

    @property
    def is_root(self) -> np.ndarray:
        found = self.v._masks.get("is_root")
        if found is None:
            found = self.v._masks["is_root"] = self.v.root == np.arange(len(self.v))
        return found

    # ---- masks -------------------------------------------------------------------------
    def _tree_mask(self, g: Group) -> np.ndarray | None:
        if g.in_tree is None:
            return None
        row = self.v.row_of_uuid.get(g.in_tree)
        if row is None:
            return np.zeros(len(self.v), bool)
        return self.v.root == self.v.root[row]

    def rc_masks(self, g: Group) -> dict[str, np.ndarray]:
        """Per class: rows that could give the group's amount of it (same-tree filters applied)."""
        out = {}
        tree = self._tree_mask(g)
        for rc, amount in g.resources.items():
            m = fits(self.v, [self.v.rc_col[rc]], [amount])
            if tree is not None:
                m &= tree
            out[rc] = m
        return out

    def anchor_of(self, rows: np.ndarray) -> dict[int, set[int]]:
        """Anchor roots for each row: its own root, or for a sharing row every tree it shares with."""
        out = {}
        for r in rows.tolist():
            out[r] = self.sharing_anchors(r) if self.sharing[r] else {int(self.v.root[r])}
        return out

    def sharing_anchors(self, row: int) -> set[int]:
        got = self.anchors.get(row)
        if got is None:
            mask = np.zeros(len(self.v), bool)
            for agg in self.v.aggs[row]:
                mask |= self.v.agg_mask(agg)
            got = set(self.v.root[mask].tolist()) | {int(self.v.root[row])}
            self.anchors[row] = got
        return got

    # ---- per group ----------------------------------------------------------------------
    def group_rows(self, g: Group) -> dict[str, np.ndarray]:
        """Per class (or '' for a resourceless group), the rows allowed to serve it."""
        v = self.v
        masks = self.rc_masks(g)
        if g.same_provider:
            one = np.ones(len(v), bool)
            for m in masks.values():
                one &= m
            tree = self._tree_mask(g)
            if tree is not None:
                one &= tree
            one &= trait_rows(v, g.required, g.forbidden) & agg_rows(v, g.member_of, g.forbidden_aggs)
            return {rc: one for rc in masks} if masks else {"": one}
        out = {}
        for rc, m in masks.items():
            if g.member_of or g.forbidden_aggs:
                m = m & self._tree_aggs_ok(g)
            if g.in_tree is not None:
                m = m & ~self.sharing | (m & self.sharing & self._tree_mask(g))
            out[rc] = m
        return out

    def _tree_aggs_ok(self, g: Group) -> np.ndarray:
        """member_of in the unsuffixed group: the provider or its root is in the aggregates."""
        own_ok = agg_rows(self.v, g.member_of, []) if g.member_of else np.ones(len(self.v), bool)
        ok = own_ok | own_ok[self.v.root]
        if g.forbidden_aggs:
            bad = ~agg_rows(self.v, [], g.forbidden_aggs)
            ok &= ~(bad | bad[self.v.root])
        return ok

    def viable_roots(self, per_group: dict[str, dict[str, np.ndarray]]) -> list[int]:
        """Roots whose tree (plus shared providers) has at least one row for every class of every group."""
        v = self.v
        alive = np.ones(len(v), bool)  # indexed by root row
        for rows_by_rc in per_group.values():
            for mask in rows_by_rc.values():
                hit = np.zeros(len(v), bool)
                own = mask & ~self.sharing
                hit[v.root[own]] = True
                for r in np.flatnonzero(mask & self.sharing).tolist():
                    hit[list(self.sharing_anchors(r))] = True
                alive &= hit
        alive &= self.is_root
        if self.q.root_required or self.q.root_forbidden:
            alive &= trait_rows(v, [{t} for t in self.q.root_required], self.q.root_forbidden)
        return np.flatnonzero(alive).tolist()


def _options(s: Search, g: Group, rows_by_rc: dict[str, np.ndarray], root: int,
             tree: list[int]) -> list[Option]:
    """All ways group `g` can be satisfied anchored at `root`."""
    v = s.v
    def allowed(mask: np.ndarray) -> list[int]:
        rows = [r for r in tree if mask[r] and not s.sharing[r]]
        rows += [r for r in np.flatnonzero(mask & s.sharing).tolist() if root in s.sharing_anchors(r)]
        return rows
    if g.same_provider:
        mask = next(iter(rows_by_rc.values()))
        return [Option(g.suffix, tuple((r, rc, amt) for rc, amt in g.resources.items()), (r,))
                for r in allowed(mask)]
    choices = [[(r, rc, amt) for r in allowed(rows_by_rc[rc])] for rc, amt in g.resources.items()]
    out = []
    for combo in itertools.product(*choices):
        rows = tuple(dict.fromkeys(r for r, _rc, _a in combo))
        if _traits_ok(v, rows, g):
            out.append(Option("", combo, rows))
    return out


def _traits_ok(v: View, rows: tuple[int, ...], g: Group) -> bool:
    have: set[str] = set()
    for r in rows:
        if v.traits[r] & g.forbidden:
            return False
        have |= v.traits[r]
    return all(any_of & have for any_of in g.required)


def _ancestors(v: View, row: int) -> set[int]:
    out = {row}
    while v.parent[row] >= 0:
        row = int(v.parent[row])
        out.add(row)
    return out


def _same_subtree_ok(v: View, picks: list[Option], subtrees: list[set[str]]) -> bool:
    for suffixes in subtrees:
        rows = {r for o in picks if o.suffix in suffixes for r in o.rows}
        if len(rows) <= 1:
            continue
        common = set.intersection(*(_ancestors(v, r) for r in rows))
        if not common & rows:
            return False
    return True


def _merge(v: View, picks: list[Option]) -> dict[int, dict[str, int]] | None:
    """Sum the picks per provider and class; None if a sum exceeds what is free or max_unit."""
    alloc: dict[int, dict[str, int]] = {}
    for o in picks:
        for r, rc, amt in o.parts:
            res = alloc.setdefault(r, {})
            res[rc] = res.get(rc, 0) + amt
    cap = v.capacity
    for r, res in alloc.items():
        for rc, amt in res.items():
            c = v.rc_col[rc]
            if v.used[r, c] + amt > cap[r, c] or amt > v.max_unit[r, c]:
                return None
    return alloc


def _tree_candidates(s: Search, root: int, tree: list[int], per_group: dict, out: list, seen: set,
                     limit: int | None) -> None:
    q, v = s.q, s.v
    opts = []
    for suffix, g in q.groups.items():
        o = _options(s, g, per_group[suffix], root, tree)
        if not o:
            return
        opts.append(o)
    granular = [i for i, g in enumerate(q.groups.values()) if g.same_provider]
    for picks in itertools.product(*opts):
        if q.group_policy == "isolate" and len({picks[i].rows[0] for i in granular}) < len(granular):
            continue
        if q.same_subtrees and not _same_subtree_ok(v, list(picks), q.same_subtrees):
            continue
        alloc = _merge(v, list(picks))
        if alloc is None or not alloc:
            continue
        if not s.nested_aware:
            roots = [int(v.root[r]) for r in alloc]
            if len(roots) != len(set(roots)):
                continue
        mappings: dict[str, list[int]] = {}
        for o in picks:
            mappings.setdefault(o.suffix, [])
            mappings[o.suffix] += [r for r in o.rows if r not in mappings[o.suffix]]
        key = (tuple(sorted((r, tuple(sorted(res.items()))) for r, res in alloc.items())),
               tuple(sorted((k, tuple(sorted(rs))) for k, rs in mappings.items())))
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(alloc, mappings))
        if limit is not None and len(out) >= limit:
            return


def search(view: View, query: Query, nested_aware: bool) -> list:
    """Candidates in anchor-root order, at most `query.limit` of them: `Candidate` values and
    `Singles` blocks (each standing for len(block) candidates)."""
    if not len(view):
        return []
    s = Search(view, query, nested_aware)
    if _simple(s, query) and s.is_root.all():
        return _flat_candidates(s, query)
    per_group = {suffix: s.group_rows(g) for suffix, g in query.groups.items()}
    roots = s.viable_roots(per_group)
    if _simple(s, query):
        return _simple_candidates(s, query, per_group, roots)
    out: list[Candidate] = []
    seen: set = set()
    trees = view.tree_rows()
    for root in roots:
        _tree_candidates(s, root, trees[root], per_group, out, seen, query.limit)
        if query.limit is not None and len(out) >= query.limit:
            break
    return out


def _simple(s: Search, query: Query) -> bool:
    """One unsuffixed group and no sharing providers: single-provider trees need no product."""
    return list(query.groups) == [""] and not s.sharing.any()


def _flat_candidates(s: Search, query: Query) -> list:
    """Every tree is one provider and nothing is shared: the answer is one row mask."""
    v, g = s.v, query.groups[""]
    ok = fits(v, [v.rc_col[rc] for rc in g.resources], list(g.resources.values()))
    tree = s._tree_mask(g)
    if tree is not None:
        ok &= tree
    if g.member_of or g.forbidden_aggs:
        ok &= agg_rows(v, g.member_of, g.forbidden_aggs)
    ok &= trait_rows(v, g.required, g.forbidden)
    if query.root_required or query.root_forbidden:
        ok &= trait_rows(v, [{t} for t in query.root_required], query.root_forbidden)
    rows = np.flatnonzero(ok)[:query.limit]
    return [Singles(rows, g.resources)] if len(rows) else []


def _simple_candidates(s: Search, query: Query, per_group: dict, roots: list[int]) -> list:
    """Single-provider trees are decided by one vectorised mask; other trees take the product."""
    v, g = s.v, query.groups[""]
    whole = np.ones(len(v), bool)
    for m in per_group[""].values():
        whole &= m
    whole &= trait_rows(v, g.required, g.forbidden)
    roots_arr = np.asarray(roots, np.int64)
    single = s.tree_size[roots_arr] == 1
    alone = single & whole[roots_arr]
    if single.all():
        rows = roots_arr[alone][:query.limit]
        return [Singles(rows, g.resources)] if len(rows) else []
    return _mixed_candidates(s, query, per_group, roots, alone.tolist(), single.tolist())


def _mixed_candidates(s: Search, query: Query, per_group: dict, roots: list[int], alone: list[bool],
                      single: list[bool]) -> list:
    """Walk roots in order: runs of fitting single-provider trees become `Singles` blocks."""
    trees, limit, resources = s.v.tree_rows(), query.limit, query.groups[""].resources
    out: list = []
    pending: list[int] = []
    seen: set = set()
    count = 0
    for root, fits_alone, one in zip(roots, alone, single):
        if one:
            if fits_alone:
                pending.append(root)
                count += 1
        else:
            found: list[Candidate] = []
            _tree_candidates(s, root, trees[root], per_group, found, seen,
                             None if limit is None else limit - count)
            if found and pending:
                out.append(Singles(np.asarray(pending, np.int64), resources))
                pending = []
            out += found
            count += len(found)
        if limit is not None and count >= limit:
            break
    if pending:
        out.append(Singles(np.asarray(pending, np.int64), resources))
    return out
