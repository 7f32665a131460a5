"""The engine's extension points: filter, score and device-pick plugins, as Protocols.

Modelled on kube-scheduler's framework: a decision runs every Filter on the candidate rows, then
every Score on the rows that passed, combines scores by the policy's weights, picks a node, and
finally asks the policy's DevicePicker which GPU slots on that node to take.  Plugins are
vectorised over snapshot rows and pure: they read the `Snapshot` and never change it, so the
engine may cache their answers per row until the row changes (see `berth.engine.cache`).
Implementations live in `filters`, `scorers` and `devices`; policies name them in `policy`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from berth.engine.snapshot import Snapshot
from berth.model import Workload

Rows = np.ndarray
"""An int array of snapshot row indices that a plugin call covers."""


@runtime_checkable
class FilterPlugin(Protocol):
    """Decides which nodes can take a workload at all.

    `filter` is called for each decision (or cache refresh) with the rows to evaluate; it returns a
    boolean array aligned with `rows`, True where the node passes.  A workload is placed only on
    rows every filter passes.  When no row passes, the engine calls `explain` on the rows this
    filter rejected (earlier filters' rejects are excluded, as kube-scheduler short-circuits per
    node) and counts the reasons: it returns `(reason, mask)` pairs, mask aligned with `rows`; a
    row may carry several reasons ("Insufficient cpu" and "Insufficient memory").

    `skip` is asked first (kube's PreFilter "Skip"): True means the filter has nothing to check
    for this workload on this snapshot (no selector, no taints anywhere), so every row passes.
    """

    name: str

    def skip(self, snap: Snapshot, workload: Workload) -> bool: ...

    def filter(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray: ...

    def explain(self, snap: Snapshot, workload: Workload, rows: Rows) -> list[tuple[str, np.ndarray]]: ...


@runtime_checkable
class ScorePlugin(Protocol):
    """Ranks the nodes that passed every filter; higher is better.

    `score` is called with feasible rows only and returns a numeric array aligned with them
    (integer scores, as kube's, need no conversion to float).  If
    `normalizes` is False the score of a row depends on that row alone, so the engine caches it
    until the row changes and adds `weight * score` straight into the total.  If True, the
    engine calls `normalize(raw, ok)` once per decision with the raw scores of every row and the
    feasibility mask, and uses its result instead (kube's NormalizeScore; Nova's min-max
    weigher normalisation); `normalize` may return None when the result is the same for every
    node, which cannot change the choice.  `skip` (kube's PreScore "Skip") returns True when the
    plugin would give every node the same score for this workload on this snapshot.

    A row's score (raw, for normalising plugins) may depend on the row's node and what is placed
    on it, and on snapshot-wide state, but not on the node's name or hostname label, nor on which
    other rows are scored in the same call: the cache scores one untouched node for all nodes of
    its spec (`Snapshot.alike`) and expects the same bits as scoring each.
    """

    name: str
    normalizes: bool

    def skip(self, snap: Snapshot, workload: Workload) -> bool: ...

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray: ...

    def normalize(self, raw: np.ndarray, ok: np.ndarray) -> np.ndarray | None: ...


@runtime_checkable
class RowFilter(Protocol):
    """The optional one-row form of a `FilterPlugin`, for the cache's commonest refresh.

    After a placement exactly one row has usually changed; asking numpy about a one-element array
    costs more than the arithmetic.  A filter that also has `fits` is called with that row as a
    plain int instead, and must return exactly `bool(filter(snap, workload, [row])[0])`, after
    the same `skip`.  The cache uses the one-row path only when every active filter and scorer
    of the decision offers it; otherwise it calls `filter` on a one-row array.
    """

    def fits(self, snap: Snapshot, workload: Workload, row: int) -> bool: ...


@runtime_checkable
class RowScore(Protocol):
    """The optional one-row form of a `ScorePlugin`: `score_row` returns, as a Python number,
    exactly what `score(snap, workload, [row])[0]` would (bit for bit for floats); called on
    feasible rows only, under the same conditions as `RowFilter.fits`."""

    def score_row(self, snap: Snapshot, workload: Workload, row: int) -> float: ...


@runtime_checkable
class Prepares(Protocol):
    """The optional warm-up of a plugin that keeps per-row state (a score model's statistics).

    `Engine` calls `prepare(snap)` once, when it is built, on every filter and scorer of its
    policy that has it, before the first decision; it may fill whatever its later calls would
    otherwise compute on first use, and must not change what they return.  A structural change
    of the snapshot later (`add_nodes`) is still met lazily, by the first decision after it.
    """

    def prepare(self, snap: Snapshot) -> None: ...


@runtime_checkable
class DevicePicker(Protocol):
    """Chooses the GPU slots a workload takes on the node the engine picked.

    Called once per successful decision, only for GPU workloads, with the chosen row and the
    decision's random generator.  It must return `workload.gpu_count` distinct slot indices, each
    with at least `workload.gpu_milli` free; the engine then charges them.
    """

    name: str

    def pick(self, snap: Snapshot, workload: Workload, row: int, rng: np.random.Generator) -> tuple[int, ...]: ...


class RowwiseScore:
    """Base for score plugins whose score depends on the row alone (no normalisation)."""

    normalizes = False

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return False

    def normalize(self, raw: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
        return raw
