"""Repair plugins: what a policy may do when a workload fits nowhere, by moving placed GPU shares.

`Repair` is the extension point (its docstring states the contract a plan must meet);
`RepackRepair` ("repack") is the one registered in `REPAIRS`, used by the policy `fgd-repair`.
When a one-device GPU workload fits nowhere, it takes the `NEIGHBOURS` partly used devices with the
largest holes (every such device holds GPU shares only), reserves the workload on one of them and
re-packs their shares largest first, each on the device it fills best among those whose node
still has the cpu, memory and pod room and passes its filters.  The first of `TRIES` reservations
whose re-pack places every share is the plan; the shares that change device are the moves (at
most `MOVES`).  Equal room prefers a share's own device and equal shapes swap back home, both
only cutting moves.  The plan is a greedy best-fit-decreasing pass over at most about 60 shares,
in plain Python numbers, and a failed attempt is remembered per workload shape with the
neighbourhood it saw, so workloads that keep failing while those devices stay as they were cost
no second attempt.  Nothing here changes the snapshot: the engine applies the plan.

Called by `Engine.place` of an engine built with `moves=True` (whose caller can move running
workloads: the simulator); the control planes build engines without it.  The variants tried
before this one, their measured gains and the policy's results: docs/policies/fgd-repair.md.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import Counter
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from berth.engine.filters import ResourceFit
from berth.engine.snapshot import Snapshot
from berth.model import GPU_WHOLE, Workload

NEIGHBOURS = 24
"""Partly used devices whose shares one repair re-packs."""
TRIES = 4
"""Devices (largest hole first) tried for the workload before giving up."""
MOVES = 64
"""The most shares one repair may move (a plan moving more is not taken)."""

Sharers = dict[tuple[int, int], dict[str, Workload]]
"""The GPU shares on each (row, device) slot, by workload name (kept by `Engine`)."""


@dataclass(frozen=True)
class Plan:
    """Where the workload goes (`row`, `devices`) and each moved share's new (row, devices)."""

    row: int
    devices: tuple[int, ...]
    moves: tuple[tuple[Workload, int, tuple[int, ...]], ...]


@runtime_checkable
class Repair(Protocol):
    """Makes room for a workload no node can take, by moving placed workloads.

    `plan` is called by `Engine.place` after every filter rejected every node for `workload`, and
    only on an engine whose caller can move running workloads.  It reads the snapshot and the
    engine's index of GPU shares and returns a `Plan`, or None when it finds no room (the engine
    then answers Unschedulable with the filters' reasons).  A plan must be feasible as it stands:
    after releasing every moved workload, the workload and then each moved one must fit where the
    plan puts it and pass every filter there.  The engine applies it in that order and reports
    the moves in the `Placement`; it never changes the snapshot itself.
    """

    name: str

    def plan(self, snap: Snapshot, sharers: Sharers, filters: tuple, workload: Workload) -> Plan | None: ...


class RepackRepair:
    """Greedy re-pack of the shares on the partly used devices with the largest holes."""

    name = "repack"

    def __init__(self, neighbours: int = NEIGHBOURS, tries: int = TRIES, moves: int = MOVES) -> None:
        self.neighbours, self.tries, self.moves = neighbours, tries, moves
        self._failed: dict[int, tuple] = {}
        """Shape id -> the neighbourhood (slots, their shares, its nodes' room) in which a repair for
        it last found nothing: the same search would find nothing again (anti-affinity aside, whose
        counts live outside the neighbourhood)."""

    def plan(self, snap: Snapshot, sharers: Sharers, filters: tuple, workload: Workload) -> Plan | None:
        if workload.gpu_count != 1:
            return None
        bins = self._neighbourhood(snap, sharers)
        if not bins:
            return None
        items = sorted(((q, b) for b, slot in enumerate(bins) for q in sharers[slot].values()),
                       key=lambda item: -item[0].gpu_milli)
        room = _room(snap, bins, items)
        seen = (tuple(bins), tuple((q.shape_id, b) for q, b in items), tuple(map(tuple, room.values())))
        if self._failed.get(workload.shape_id) == seen and not workload.anti_affinity:
            return None
        found = self._search(snap, filters, workload, bins, items, room)
        if found is None:
            self._failed[workload.shape_id] = seen
        return found

    def _search(self, snap, filters, workload, bins, items, room) -> Plan | None:
        static = _static_fit(snap, filters, [workload] + [q for q, _ in items], bins)
        need, ask = min(workload.gpu_milli, GPU_WHOLE), snap.request_values(workload)
        tried = 0
        for target, (row, device) in enumerate(bins):
            if tried == self.tries:
                break
            if not static[workload.shape_id][target] or not _fits(room[row], ask):
                continue
            tried += 1
            moves = _repack(snap, bins, items, static, room, target, need, ask)
            if moves is not None and len(moves) <= self.moves:
                return Plan(row, (device,), moves)
        return None

    def _neighbourhood(self, snap: Snapshot, sharers: Sharers) -> list[tuple[int, int]]:
        """The partly used slots with the largest holes whose every share is known and movable."""
        slots = np.arange(snap.gpu_free.shape[1]) < snap.gpu_count[:, None]
        free = np.where(slots & (snap.gpu_free < GPU_WHOLE), snap.gpu_free, 0).ravel()
        order = _largest(free, 2 * self.neighbours)
        width, bins = snap.gpu_free.shape[1], []
        for flat in order.tolist():
            if free[flat] <= 0 or len(bins) == self.neighbours:
                break
            slot = (flat // width, flat % width)
            held = sharers.get(slot, {})
            if held and free[flat] + sum(q.gpu_milli for q in held.values()) == GPU_WHOLE \
                    and not any(q.anti_affinity for q in held.values()):
                bins.append(slot)
        return bins


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` largest values, largest first, ties by index (a stable sort's first k)."""
    k = min(k, len(values))
    if not k:
        return np.zeros(0, np.int64)
    cut = np.partition(values, len(values) - k)[len(values) - k]
    above = np.flatnonzero(values > cut)
    top = np.concatenate((above, np.flatnonzero(values == cut)[: k - len(above)]))
    return top[np.lexsort((top, -values[top]))]


def _static_fit(snap, filters, workloads, bins) -> dict[int, list[bool]]:
    """Per workload shape, whether each bin's node passes every filter but resource fit."""
    rows = np.array([row for row, _ in bins])
    out: dict[int, list[bool]] = {}
    for w in workloads:
        if w.shape_id not in out:
            ok = np.ones(len(rows), bool)
            for plugin in filters:
                if not isinstance(plugin, ResourceFit) and not plugin.skip(snap, w):
                    ok &= plugin.filter(snap, w, rows)
            out[w.shape_id] = ok.tolist()
    return out


def _room(snap: Snapshot, bins, items) -> dict[int, list[int]]:
    """Per bin node: free scalar resources and pod slots with the bins' shares taken off it."""
    room = {row: snap.free[row].tolist() + [int(min(snap.pods_free[row], 2**31))] for row, _ in bins}
    for q, b in items:
        have = room[bins[b][0]]
        for i, amount in enumerate(snap.request_values(q)):
            have[i] += amount
        have[-1] += 1
    return room


def _fits(have: list[int], ask: tuple[int, ...]) -> bool:
    return have[-1] >= 1 and all(map(int.__ge__, have, ask))


def _take(have: list[int], ask: tuple[int, ...]) -> None:
    for i, amount in enumerate(ask):
        have[i] -= amount
    have[-1] -= 1


def _best_bin(free: list[tuple[int, int]], milli: int, home: int, hosts) -> int | None:
    """Index in `free` of the bin a share of `milli` fills best among those that `hosts`: the
    least room left, its own bin `home` among equals (a move fewer), else the first."""
    at = bisect_left(free, (milli, -1))
    while at < len(free) and not hosts(free[at][1]):
        at += 1
    if at == len(free):
        return None
    mine = bisect_left(free, (free[at][0], home), at)
    return mine if mine < len(free) and free[mine] == (free[at][0], home) and hosts(home) else at


def _repack(snap, bins, items, static, room, target, need, ask):
    """Moves placing every share once the workload holds `need` on bin `target`, or None.  Each
    share takes the bin it fills best among those its node can host (`_best_bin`): `free` keeps
    (room left, bin) sorted, so the search starts at the first bin with room enough."""
    room = {row: list(have) for row, have in room.items()}
    free = sorted((GPU_WHOLE - (need if b == target else 0), b) for b in range(len(bins)))
    _take(room[bins[target][0]], ask)
    placed = []
    for q, home in items:
        milli, fit, values = q.gpu_milli, static[q.shape_id], snap.request_values(q)
        at = _best_bin(free, milli, home, lambda b: fit[b] and _fits(room[bins[b][0]], values))
        if at is None:
            return None
        left, best = free.pop(at)
        insort(free, (left - milli, best))
        _take(room[bins[best][0]], values)
        placed.append((q, home, best))
    return tuple((q, bins[b][0], (bins[b][1],)) for q, b in _fewest_moves(placed))


def _fewest_moves(placed: list[tuple[Workload, int, int]]) -> list[tuple[Workload, int]]:
    """The moves of a re-pack given as (share, old bin, new bin), with shares of one shape
    interchanged so that as many as possible keep their bin (equal shapes are interchangeable)."""
    by_shape: dict[int, list[tuple[Workload, int, int]]] = {}
    for item in placed:
        by_shape.setdefault(item[0].shape_id, []).append(item)
    moves = []
    for group in by_shape.values():
        stay = Counter(home for _, home, _ in group) & Counter(new for _, _, new in group)
        spare = list((Counter(new for _, _, new in group) - stay).elements())
        for q, home, _ in group:
            if stay[home]:
                stay[home] -= 1
            else:
                moves.append((q, spare.pop()))
    return moves


REPAIRS = {"repack": RepackRepair}
"""Repair plugins by name (policies name one, or none)."""

__all__ = ["NEIGHBOURS", "REPAIRS", "TRIES", "Plan", "RepackRepair", "Repair", "Sharers"]
