"""`HostState`: a scheduler's one engine, kept up to date from Placement's answers.

Placement answers every request with allocation candidates whose provider summaries give each
host's capacity and usage.  `sync(cands)` makes each candidate host a row of one engine snapshot
and returns their rows: a new host is appended (`Snapshot.add_nodes`); a host whose definition
changed (capacity, or the down and disabled taints) rebuilds the snapshot and engine, as the
declarative scheduler's cache does, which is rare; each host's usage is charged as one workload,
replaced only when the answer shows it moved.  The engine's score cache therefore re-scores
only the rows whose usage moved since the last request.  Hosts missing from an answer keep their
rows: a decision looks at its candidates' rows alone (`Engine.evaluate(within=...)`).
`members(spec, at)` charges the request's server-group members for the length of one decision
(and drops the group's count column after).  Not thread-safe: `select.Ranker` holds a lock around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from berth.centralised.scheduler import hosts as hostmod
from berth.centralised.scheduler.hosts import Candidate
from berth.centralised.scheduler.request import RequestSpec
from berth.centralised.scheduler.weighing import NovaWeighing
from berth.engine import Engine, Snapshot
from berth.model import Node, Resources, Workload


class HostState:
    """Every host seen in an answer as a row of one engine snapshot, with its latest usage."""

    def __init__(self, policy: NovaWeighing) -> None:
        self.policy = policy
        self.nodes: dict[str, Node] = {}
        """Host definitions by name, in row order."""
        self.usage: dict[int, Workload] = {}
        """Per row, the workload charging the usage Placement last reported."""
        self.rebuilds = 0
        self.engine = Engine(Snapshot(dims=hostmod.BASE_DIMS), policy)

    def sync(self, cands: list[Candidate]) -> np.ndarray:
        """The rows of `cands`, in their order, once their definitions and usage are current."""
        self._define([hostmod.node(c) for c in cands])
        index = self.engine.snapshot.index
        rows = np.fromiter((index[c.host.host] for c in cands), np.int64, len(cands))
        for row, cand in zip(rows.tolist(), cands):
            self._use(row, hostmod.usage(cand))
        return rows

    def within(self, rows: np.ndarray) -> np.ndarray:
        """The boolean row mask of `rows`."""
        mask = np.zeros(len(self.engine.snapshot), bool)
        mask[rows] = True
        return mask

    @contextmanager
    def members(self, spec: RequestSpec, at: dict[str, int]) -> Iterator[None]:
        """Charge the request's server-group members on the hosts of `at` (name -> row) while
        the block runs."""
        held = []
        if spec.group:
            for i, host in enumerate(spec.group.hosts):
                if host in at:
                    member = hostmod.group_member(spec.group, i)
                    self.engine.assign(at[host], member, ())
                    held.append(member.name)
        try:
            yield
        finally:
            for name in held:
                self.engine.release(name)
            if held:
                self.engine.snapshot.forget_group(spec.group.id)

    def _define(self, nodes: list[Node]) -> None:
        new = [n for n in nodes if n.name not in self.nodes]
        changed = any(self.nodes.get(n.name, n) != n for n in nodes)
        self.nodes.update((n.name, n) for n in nodes)
        if changed:
            self._rebuild()
        elif new:
            self.engine.snapshot.add_nodes(new)

    def _rebuild(self) -> None:
        self.engine = Engine(Snapshot(list(self.nodes.values()), dims=hostmod.BASE_DIMS), self.policy)
        for row, used in self.usage.items():
            self.engine.assign(row, used, ())
        self.rebuilds += 1

    def _use(self, row: int, used: Resources) -> None:
        held = self.usage.get(row)
        if held is not None and held.requests == used:
            return
        if held is not None:
            self.engine.release(held.name)
        self.usage[row] = Workload(f"usage-{row}", used)
        self.engine.assign(row, self.usage[row], ())
