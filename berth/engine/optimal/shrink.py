"""Large-neighbourhood search that empties nodes of a placement, one at a time.

Phase 2 of `compact` (fewest new nodes) often has its optimum's value from the start (the
relaxation's bound) but HiGHS takes long to find a packing that meets it.  `shrink` takes a
placement and repeatedly picks a used node (lightest first) and a few other used nodes, fixes
everything else, and asks the compact model (phase 1, restricted to the neighbours' rows) to
place the picked nodes' workloads on the neighbours alone; when it places them all, one node
fewer is in use.  Every step is a valid placement of the same workloads, so the result is too;
it proves nothing by itself (the lower bound comes from `compact`).  `fill` does the same for
phase 1: it re-places a few nodes' workloads together with the unplaced ones, keeping any
placement of more weight.  Called by `compact.prove`.
"""

from __future__ import annotations

import time

import numpy as np

from berth.engine.optimal.aggregate import aggregate
from berth.engine.optimal.layouts import Assignment, new_nodes
from berth.model import GPU

NEIGHBOURS = (4, 6, 8)
"""Sizes of the neighbourhoods tried around a node: that many of the lightest other used nodes
(then one random set of the middle size)."""
STEP_LIMIT = 1.5
"""Seconds at most for one neighbourhood's MIP."""


def shrink(snap, workloads, weights, assignment: Assignment, target: int, deadline: float) -> Assignment:
    """`assignment` (workload index -> row, devices) with as few new nodes as this search finds,
    stopping at `target` (a proven lower bound) or `deadline` (perf_counter time)."""
    tried: set[tuple[int, tuple[int, ...]]] = set()
    while new_nodes(snap, assignment) > target and time.perf_counter() < deadline - 0.1:
        step = _step(snap, workloads, weights, assignment, tried, deadline)
        if step is None:
            break
        assignment = step
    return assignment


def _step(snap, workloads, weights, assignment: Assignment, tried: set, deadline: float) -> Assignment | None:
    """One improving move, or None when every neighbourhood in turn fails."""
    per_row: dict[int, list[int]] = {}
    for i, (row, _) in assignment.items():
        per_row.setdefault(row, []).append(i)
    rows = [r for r in per_row if snap.is_empty(r)]
    load = {r: sum(int(workloads[i].requests[GPU]) + 1 for i in per_row[r]) for r in rows}
    rows.sort(key=lambda r: load[r])
    for victim in rows:
        others = [r for r in rows if r != victim]
        rng = np.random.default_rng(len(tried))
        for neighbours in [others[:n] for n in NEIGHBOURS] + [list(rng.permutation(others)[:NEIGHBOURS[1]])]:
            key = (victim, tuple(sorted(int(n) for n in neighbours)))
            if key in tried or not neighbours or time.perf_counter() > deadline - 0.1:
                continue
            tried.add(key)
            moved = _move(snap, workloads, weights, assignment, per_row, victim, list(neighbours), deadline)
            if moved is not None:
                return moved
    return None


def fill(snap, workloads, weights, assignment: Assignment, rows: list[int], target: float,
         deadline: float) -> Assignment:
    """More weight for `assignment`: re-place the workloads of a few of `rows` (most room
    first, then random sets) together with every unplaced workload on those rows alone, while
    the weight is below `target` (a proven bound) and time is left."""
    rng = np.random.default_rng(0)
    while _weight(weights, assignment) < target and time.perf_counter() < deadline - 0.1:
        per_row: dict[int, list[int]] = {r: [] for r in rows}
        for i, (row, _) in assignment.items():
            per_row.setdefault(row, []).append(i)
        left = [i for i in range(len(workloads)) if i not in assignment]
        room = sorted(rows, key=lambda r: sum(weights[i] for i in per_row[r]))
        tries = [room[:n] for n in NEIGHBOURS] + [list(rng.permutation(rows)[:NEIGHBOURS[1]]) for _ in range(2)]
        for chosen in tries:
            moved = _move(snap, workloads, weights, assignment, per_row, None, list(chosen), deadline, left)
            if moved is not None:
                assignment = moved
                break
        else:
            break
    return assignment


def _weight(weights, assignment: Assignment) -> float:
    return float(sum(weights[i] for i in assignment))


def _move(snap, workloads, weights, assignment, per_row, victim, neighbours: list[int], deadline: float,
          extra: list[int] = ()):
    """Place the workloads of `victim` and `neighbours` on the neighbours alone, or None; with
    `extra` (unplaced workloads) too, accepting any placement with more weight than before."""
    from berth.engine.optimal.batch import clone
    from berth.engine.optimal.compact import CompactModel

    subset = [i for r in ([victim] if victim is not None else []) + neighbours for i in per_row[r]]
    before = float(sum(weights[i] for i in subset))
    subset += list(extra)
    work = clone(snap)
    for i, (row, devs) in assignment.items():
        if i not in set(subset):
            work.assign(row, workloads[i], devs)
    part = [workloads[i] for i in subset]
    agg = aggregate(work, part)
    model = CompactModel(work, agg, [weights[subset[t.members[0]]] for t in agg.types])
    if not model.usable:
        return None
    keep = set(neighbours)
    model.rows = [[r for r in c.rows if r in keep] for c in model.classes]
    total = float(sum(weights[i] for i in subset))
    limit = min(STEP_LIMIT, deadline - time.perf_counter())
    found = model.solve_phase(1, max(0.05, limit), known_bound=total)
    need = total if victim is not None else before + 1e-9
    if found.value is None or found.value < need:
        return None
    out = {i: slot for i, slot in assignment.items() if i not in set(subset)}
    out.update({subset[j]: slot for j, slot in found.assignment.items()})
    return out
