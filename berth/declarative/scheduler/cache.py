"""`ClusterState`: the scheduler's cache, one engine `Snapshot` kept up to date incrementally.

Nodes arrive from the informer as engine `Node`s; new ones are batched and appended before the
next decision (`Snapshot.add_nodes`), while a changed or removed node rebuilds the snapshot
(rare: labels, taints, capacity).  Every pod that holds resources is in the ledger with its node:
pods bound by anyone (`add_pod`, upstream's AddPod) and pods this scheduler has chosen a node for
but not yet seen bound (`assume`, which runs the profile's `Engine.place`; `forget` undoes it if
binding fails).  Each profile has its own `Engine` (its policy) over the one shared snapshot, so
a placement by any profile is seen by all.  Thread-safe; the scheduler's informer handlers and
its scheduling loop share it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from berth.declarative.scheduler.config import Profile
from berth.engine import Engine, Placement, Snapshot, Unschedulable
from berth.model import Node, Workload


@dataclass
class Charge:
    """A pod holding resources on `node`; `assumed` until the informer shows it bound."""

    node: str
    workload: Workload
    devices: tuple[int, ...] = ()
    assumed: bool = False
    on: bool = False
    """Charged to the current snapshot (False while its node is not in it yet)."""


class ClusterState:
    """Nodes, the pods on them, and one engine per profile over a shared snapshot."""

    def __init__(self, profiles: list[Profile], seed: int = 0) -> None:
        self.profiles = {p.scheduler_name: p for p in profiles}
        self.seed = seed
        self.lock = threading.RLock()
        self.nodes: dict[str, Node] = {}
        self.ledger: dict[str, Charge] = {}
        self._new_nodes: list[Node] = []
        self._rebuild = True
        self.rebuilds = 0
        self.snapshot = Snapshot()
        self.engines: dict[str, Engine] = {}

    # ---- nodes -------------------------------------------------------------------------------------
    def set_node(self, node: Node) -> bool:
        """Add or update a node; False when nothing the engine sees changed."""
        with self.lock:
            old = self.nodes.get(node.name)
            if old == node:
                return False
            self.nodes[node.name] = node
            if old is None and not self._rebuild:
                self._new_nodes.append(node)
            else:
                self._rebuild = True
            return True

    def remove_node(self, name: str) -> bool:
        with self.lock:
            if self.nodes.pop(name, None) is None:
                return False
            self._rebuild = True
            return True

    # ---- pods ----------------------------------------------------------------------------------------
    def add_pod(self, key: str, workload: Workload, node: str) -> None:
        """A pod observed bound to `node` (confirms an assumption on the same node)."""
        with self.lock:
            held = self.ledger.get(key)
            if held is not None and held.node == node:
                held.assumed = False
                return
            if held is not None:
                self._uncharge(key)
            self.ledger[key] = Charge(node, workload)
            self._charge(self.ledger[key])

    def remove_pod(self, key: str) -> bool:
        """A pod that no longer holds resources (deleted, finished); False if it held none."""
        with self.lock:
            if key not in self.ledger:
                return False
            self._uncharge(key)
            del self.ledger[key]
            return True

    def assume(self, key: str, scheduler_name: str, workload: Workload) -> Placement | Unschedulable:
        """Choose a node with the profile's engine and hold the resources there until bound or forgotten."""
        with self.lock:
            self.sync()
            engine = self.engines[scheduler_name]
            result = engine.place(workload)
            if isinstance(result, Placement):
                engine.disown(workload.name)  # the ledger, not the engine, tracks it
                self.ledger[key] = Charge(result.node, workload, result.devices, assumed=True, on=True)
            return result

    def forget(self, key: str) -> None:
        """Undo an assumption (binding failed)."""
        with self.lock:
            held = self.ledger.get(key)
            if held is not None and held.assumed:
                self.remove_pod(key)

    def pods_on(self, node: str) -> list[tuple[str, Charge]]:
        with self.lock:
            return [(k, c) for k, c in self.ledger.items() if c.node == node]

    # ---- snapshot maintenance --------------------------------------------------------------------------
    def sync(self) -> None:
        """Apply batched node additions, or rebuild after a structural change."""
        with self.lock:
            if self._rebuild:
                self._rebuild_all()
            elif self._new_nodes:
                self.snapshot.add_nodes(self._new_nodes)
                self._new_nodes = []
                for charge in self.ledger.values():
                    if charge.node in self.snapshot.index and not charge.on:
                        self._charge(charge)

    def _rebuild_all(self) -> None:
        self.snapshot = Snapshot(list(self.nodes.values()))
        self.engines = {name: Engine(self.snapshot, p.policy, seed=self.seed) for name, p in self.profiles.items()}
        self._new_nodes, self._rebuild = [], False
        self.rebuilds += 1
        for charge in self.ledger.values():
            charge.on = False
            self._charge(charge)

    def _charge(self, charge: Charge) -> None:
        row = self.snapshot.index.get(charge.node)
        if row is None or self._rebuild or charge.on:
            return
        self.snapshot.assign(row, charge.workload, charge.devices)
        charge.on = True

    def _uncharge(self, key: str) -> None:
        charge = self.ledger[key]
        row = self.snapshot.index.get(charge.node)
        if row is not None and charge.on and not self._rebuild:
            self.snapshot.release(row, charge.workload, charge.devices)
        charge.on = False
