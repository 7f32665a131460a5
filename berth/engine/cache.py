"""`ScoreCache`: per-workload-shape filter and score results, refreshed row by row.

A placement changes one row of the snapshot (a zone-wide anti-affinity change a few), yet a plain
evaluation would re-filter and re-score every node.  The cache keeps, for each workload shape
seen, the feasibility mask, the raw scores of normalising plugins (stale on infeasible rows,
which normalisers mask out) and the weighted row-wise total, plus the
snapshot tick it reflects.  `evaluate` refreshes only rows whose `node_tick` moved past that
tick, then adds the per-decision normalised terms.  `best` also names the rows sharing the
highest total; when no normalised term applies, that tie set is kept up to date row by row
instead of rescanning every node per decision.  A refresh of one row (the commonest: the last
placement moved it) calls the plugins' one-row forms (`RowFilter.fits`, `RowScore.score_row`) in
plain Python numbers when every active plugin has one; a refresh of many rows scores one
untouched node per node spec for all of them (`Snapshot.alike`).  Results are identical to a full
evaluation (a test checks this); `enabled=False` forces full evaluation.  Called by `Engine` only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from berth.engine.snapshot import Snapshot
from berth.model import Workload

MAX_CACHE_BYTES = 256 * 2**20
_NO_ROWS = np.zeros(0, np.int64)


@dataclass
class _Entry:
    epoch: int
    tick: int
    filters: list
    scorers: list
    ok: np.ndarray
    raw: np.ndarray
    rowwise: np.ndarray
    top: np.ndarray | None = None
    """Rows whose `rowwise` equals the highest finite value, ascending; None until scanned."""
    by_row: bool = False
    """Every active plugin has its one-row form (`RowFilter.fits`, `RowScore.score_row`)."""


class ScoreCache:
    """Filter/score results per workload shape, kept coherent with the snapshot's ticks."""

    def __init__(self, snap: Snapshot, policy, enabled: bool = True) -> None:
        self.snap = snap
        self.policy = policy
        self.enabled = enabled
        self.entries: OrderedDict[int, _Entry] = OrderedDict()
        self.last: int | None = None
        """The shape of the latest decision: the most recently used entry, no reordering needed."""

    def evaluate(self, workload: Workload, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(feasible mask, total score) over every row; the total is -inf where a filter fails.
        Only rows of the boolean mask `within` (all when None) count as feasible, and normalising
        scorers range over those."""
        entry = self._entry(workload)
        return self._total(entry, entry.ok if within is None else entry.ok & within)

    def best(self, workload: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`evaluate`'s pair plus the rows sharing the highest total, ascending (empty: none fits)."""
        entry = self._entry(workload)
        ok, total = self._total(entry, entry.ok)
        if total is not entry.rowwise:
            return ok, total, top_rows(total)
        if entry.top is None:
            entry.top = top_rows(total)
        return ok, total, entry.top

    def _total(self, entry: _Entry, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The row-wise total plus the normalised terms, normalised over the rows `ok`."""
        total = entry.rowwise
        for i, scorer, weight in entry.scorers:
            if not scorer.normalizes:
                continue
            term = scorer.normalize(entry.raw[i], ok)
            if term is not None:
                total = total + weight * term
        return ok, total

    def _entry(self, workload: Workload) -> _Entry:
        key = workload.shape_id
        entry = self.entries.get(key) if self.enabled else None
        if entry is None or entry.epoch != self.snap.epoch:
            entry = self._fresh(workload)
            if len(self.snap):
                self._refresh(entry, workload, np.arange(len(self.snap)))
            if self.enabled:
                self.entries[key] = entry
                self.entries.move_to_end(key)
                self._trim()
        else:
            if key != self.last:
                self.entries.move_to_end(key)
            rows = self.snap.changed_since(entry.tick)
            if len(rows):
                self._refresh(entry, workload, rows)
        entry.tick = self.snap.tick
        self.last = key
        return entry

    def _fresh(self, workload: Workload) -> _Entry:
        n = len(self.snap)
        raw = np.zeros((len(self.policy.scorers), n))
        filters = [f for f in self.policy.filters if not f.skip(self.snap, workload)]
        scorers = [(i, s, w) for i, (s, w) in enumerate(self.policy.scorers) if not s.skip(self.snap, workload)]
        by_row = all(hasattr(f, "fits") for f in filters) and all(hasattr(s, "score_row") for _, s, _ in scorers)
        return _Entry(self.snap.epoch, self.snap.tick, filters, scorers, np.zeros(n, bool), raw,
                      np.full(n, -np.inf), by_row=by_row)

    def _refresh(self, entry: _Entry, workload: Workload, rows: np.ndarray) -> None:
        if len(rows) == 1:
            self._refresh_one(entry, workload, rows)
            return
        ok = self._feasible(entry, workload, rows)
        entry.ok[rows] = ok
        feasible = rows[ok]
        entry.rowwise[rows] = -np.inf
        alike = self.snap.alike(feasible) if self.enabled and len(feasible) > 1 else None
        if alike is not None:
            entry.rowwise[feasible] = self._rowwise(entry, workload, alike[0], feasible, alike[1])
        elif len(feasible):
            entry.rowwise[feasible] = self._rowwise(entry, workload, feasible)
        entry.top = None

    def _refresh_one(self, entry: _Entry, workload: Workload, rows: np.ndarray) -> None:
        """The common case (one placement moved one row), in plain Python numbers where every
        plugin has a one-row form, else through the vector calls with scalar and slice stores."""
        row = int(rows[0])
        if entry.by_row:
            fits = self._fits_row(entry, workload, row)
            entry.ok[row] = fits
            entry.rowwise[row] = self._rowwise(entry, workload, row) if fits else -np.inf
        else:
            fits = bool(self._feasible(entry, workload, rows)[0])
            entry.ok[row] = fits
            entry.rowwise[row:row + 1] = self._rowwise(entry, workload, rows) if fits else -np.inf
        entry.top = _moved_top(entry.top, entry.rowwise, row)

    def _fits_row(self, entry: _Entry, workload: Workload, row: int) -> bool:
        for plugin in entry.filters:
            if not plugin.fits(self.snap, workload, row):
                return False
        return True

    def _feasible(self, entry: _Entry, workload: Workload, rows: np.ndarray) -> np.ndarray:
        ok = None
        for plugin in entry.filters:
            passed = plugin.filter(self.snap, workload, rows)
            ok = passed if ok is None else ok & passed
        return np.ones(len(rows), bool) if ok is None else ok

    def _rowwise(self, entry: _Entry, workload: Workload, feasible: np.ndarray | int,
                 rows: np.ndarray | None = None, spread: np.ndarray | None = None):
        """The weighted row-wise total over `feasible` rows, or over one row given as an int (by
        the plugins' one-row forms, in the same order of operations: bit for bit the same).
        Given `rows` and `spread`, `feasible` are stand-ins (`Snapshot.alike`) and the answer is
        for `rows`, each taking its stand-in's scores."""
        one = isinstance(feasible, int)
        total = 0.0
        for i, scorer, weight in entry.scorers:
            raw = scorer.score_row(self.snap, workload, feasible) if one else scorer.score(self.snap, workload, feasible)
            if spread is not None and np.ndim(raw):
                raw = raw[spread]
            if scorer.normalizes:
                entry.raw[i, feasible if rows is None else rows] = raw
            else:
                total = total + (raw if weight == 1 else weight * raw)
        return total

    def _trim(self) -> None:
        per_entry = max(1, len(self.snap)) * (len(self.policy.scorers) + 2) * 8
        while len(self.entries) > max(4, MAX_CACHE_BYTES // per_entry):
            self.entries.popitem(last=False)


def top_rows(total: np.ndarray) -> np.ndarray:
    """Rows sharing the highest finite value of `total`, ascending (empty when all are -inf)."""
    if not len(total):
        return _NO_ROWS
    row = total.argmax()
    if total[row] == -np.inf:
        return _NO_ROWS
    return np.flatnonzero(total == total[row])


def _moved_top(top: np.ndarray | None, rowwise: np.ndarray, row: int) -> np.ndarray | None:
    """The tie set after `row`'s total changed; None when it must be rescanned."""
    if top is None or not len(top):
        return None
    at = int(top.searchsorted(row))
    present = at < len(top) and top[at] == row
    if present and len(top) == 1:
        return None
    best, value = rowwise[top[1] if present and at == 0 else top[0]], rowwise[row]
    if value > best:
        return np.array([row])
    if value == best:
        return top if present else np.concatenate((top[:at], [row], top[at:]))
    return np.concatenate((top[:at], top[at + 1:])) if present else top
