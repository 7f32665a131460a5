"""`ScoreCache`: per-workload-shape filter and score results, refreshed row by row.

A placement changes one row of the snapshot (a zone-wide anti-affinity change a few), yet a plain
evaluation would re-filter and re-score every node.  The cache keeps, for each workload shape
seen, the feasibility mask, the raw scores of normalising plugins (stale on infeasible rows,
which normalisers mask out) and the weighted row-wise total, plus the
snapshot tick it reflects.  `evaluate` refreshes only rows whose `node_tick` moved past that
tick, then adds the per-decision normalised terms.  Results are identical to a full evaluation
(a test checks this); `enabled=False` forces full evaluation.  Called by `Engine` only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from berth.engine.snapshot import Snapshot
from berth.model import Workload

MAX_CACHE_BYTES = 256 * 2**20


@dataclass
class _Entry:
    epoch: int
    tick: int
    filters: list
    scorers: list
    ok: np.ndarray
    raw: np.ndarray
    rowwise: np.ndarray


class ScoreCache:
    """Filter/score results per workload shape, kept coherent with the snapshot's ticks."""

    def __init__(self, snap: Snapshot, policy, enabled: bool = True) -> None:
        self.snap = snap
        self.policy = policy
        self.enabled = enabled
        self.entries: OrderedDict[tuple, _Entry] = OrderedDict()

    def evaluate(self, workload: Workload) -> tuple[np.ndarray, np.ndarray]:
        """(feasible mask, total score with -inf where infeasible) over every row."""
        entry = self._entry(workload)
        total = entry.rowwise
        for i, scorer, weight in entry.scorers:
            if not scorer.normalizes:
                continue
            term = scorer.normalize(entry.raw[i], entry.ok)
            if term is not None:
                total = total + weight * term
        return entry.ok, total

    def _entry(self, workload: Workload) -> _Entry:
        key = workload.shape
        entry = self.entries.get(key) if self.enabled else None
        if entry is None or entry.epoch != self.snap.epoch:
            entry = self._fresh(workload)
            rows = np.arange(len(self.snap))
        else:
            self.entries.move_to_end(key)
            rows = self.snap.changed_since(entry.tick)
        if len(rows):
            self._refresh(entry, workload, rows)
        entry.tick = self.snap.tick
        if self.enabled:
            self.entries[key] = entry
            self._trim()
        return entry

    def _fresh(self, workload: Workload) -> _Entry:
        n = len(self.snap)
        raw = np.zeros((len(self.policy.scorers), n))
        filters = [f for f in self.policy.filters if not f.skip(self.snap, workload)]
        scorers = [(i, s, w) for i, (s, w) in enumerate(self.policy.scorers) if not s.skip(self.snap, workload)]
        return _Entry(self.snap.epoch, self.snap.tick, filters, scorers, np.zeros(n, bool), raw,
                      np.full(n, -np.inf))

    def _refresh(self, entry: _Entry, workload: Workload, rows: np.ndarray) -> None:
        ok = None
        for plugin in entry.filters:
            passed = plugin.filter(self.snap, workload, rows)
            ok = passed if ok is None else ok & passed
        if ok is None:
            ok = np.ones(len(rows), bool)
        entry.ok[rows] = ok
        feasible = rows[ok]
        entry.rowwise[rows] = -np.inf
        if not len(feasible):
            return
        total = 0.0
        for i, scorer, weight in entry.scorers:
            raw = scorer.score(self.snap, workload, feasible)
            if scorer.normalizes:
                entry.raw[i, feasible] = raw
            else:
                total = total + (raw if weight == 1 else weight * raw)
        entry.rowwise[feasible] = total

    def _trim(self) -> None:
        per_entry = max(1, len(self.snap)) * (len(self.policy.scorers) + 2) * 8
        while len(self.entries) > max(4, MAX_CACHE_BYTES // per_entry):
            self.entries.popitem(last=False)
