"""The columnar cluster snapshot every engine decision reads and every placement updates.

One row per node.  Scalar resources (cpu, memory, custom names) live in `capacity` / `used` /
`free` matrices with one column per dimension (cpu and memory always the first two); GPUs live
in `gpu_free`, one column per device slot, holding free milli-GPU (0 for a slot the node lacks).  Derived columns (`gpu_full`, the
count of wholly free devices, and `gpu_best`, the most free milli on any one device) make the GPU
fit test one comparison; `gpu_left` is the free milli-GPU summed over devices.  `gpu_tags` counts
the GPU workloads on each node by kind (`share-gpu`, `2-gpu`, ...) and `tag_kinds` how many kinds.
Label and taint checks are cached per node as static columns until the next structural change.

Changes are incremental: `assign` and `release` touch one row and stamp it with a new `tick`, so
score caches (see `berth.engine.cache`) recompute only rows whose `node_tick` moved.  Nodes may
join later (`add_nodes`); structural changes bump `epoch`, which invalidates every cache.
Used by `Engine` and the filter and score plugins; never mutated by plugins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from berth.model import GPU, GPU_WHOLE, PODS, Node, Workload
from berth.model.node import HOSTNAME_LABEL
from berth.model.constraints import LabelRequirement, Taint, TaintEffect, Toleration

BASE_DIMS = ("cpu", "memory")
CHANGE_LOG = 4096
SHORT_LOG = 64
_NO_ROWS = np.zeros(0, np.int64)
ALIKE_MIN, ALIKE_SHARE = 32, 0.75
"""`alike` answers only when at least this many rows are untouched and the stand-ins are at
most this share of the rows."""
UNLIMITED_PODS = 2**62
"""`pods_free` of a node that declares no pod limit."""
MAX_VECTORS = 65536
"""Request vectors kept (`request_vector`); past this many the table starts afresh, so a
long-lived snapshot charged ever new amounts (a scheduler's host usage) stays bounded."""


class Snapshot:
    """Columnar, incrementally updated state of a cluster."""

    def __init__(self, nodes: Iterable[Node] = (), dims: Sequence[str] = BASE_DIMS) -> None:
        self.dims: list[str] = list(dims)
        self.dim_index = {d: i for i, d in enumerate(self.dims)}
        self.nodes: list[Node] = []
        self.index: dict[str, int] = {}
        self.capacity = np.zeros((0, len(self.dims)), np.int64)
        self.used = np.zeros((0, len(self.dims)), np.int64)
        self.free = np.zeros((0, len(self.dims)), np.int64)
        self.pods_cap = np.zeros(0, np.int64)
        self.pods_used = np.zeros(0, np.int64)
        self.pods_free = np.zeros(0, np.int64)
        self.gpu_free = np.zeros((0, 1), np.int64)
        self.gpu_count = np.zeros(0, np.int64)
        self.node_tick = np.zeros(0, np.int64)
        self.tick = 0
        self.epoch = 0
        self.changes: list[int] = []
        self.groups: dict[str, np.ndarray] = {}
        self.gpu_tags: dict[str, np.ndarray] = {}
        self.tag_kinds = np.zeros(0, np.int64)
        self._static: dict[object, np.ndarray] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._values: dict[int, tuple[int, ...]] = {}
        self._unknown: dict[int, list[str]] = {}
        self._derived: dict[object, tuple[np.ndarray, object]] = {}
        self._derived_at = (-1, -1)
        self.node_class = np.zeros(0, np.int64)
        """Rows whose nodes are alike but for their names share a class (see `alike`)."""
        self._classes: dict[tuple, int] = {}
        self.add_nodes(list(nodes))

    # ---- structure -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def add_nodes(self, nodes: Sequence[Node]) -> None:
        """Append nodes (a structural change: every cache is invalidated)."""
        for node in nodes:
            if node.name in self.index:
                raise ValueError(f"node {node.name!r} is already in the snapshot")
            self.index[node.name] = len(self.nodes)
            self.nodes.append(node)
        for node in nodes:
            for dim in node.capacity:
                if dim not in (GPU, PODS) and dim not in self.dim_index:
                    self.dim_index[dim] = len(self.dims)
                    self.dims.append(dim)
        self._rebuild_columns(len(nodes))

    def _rebuild_columns(self, added: int) -> None:
        n, d = len(self.nodes), len(self.dims)
        old = n - added
        self.capacity = _grow(self.capacity, (n, d))
        self.used = _grow(self.used, (n, d))
        width = max([self.gpu_free.shape[1]] + [node.gpus for node in self.nodes])
        self.gpu_free = _grow(self.gpu_free, (n, width))
        for col in ("pods_cap", "pods_used", "gpu_count", "node_tick", "node_class"):
            setattr(self, col, _grow(getattr(self, col), (n,)))
        for row in range(old, n):
            self._fill_row(row, self.nodes[row])
        self.free = self.capacity - self.used
        self.pods_free = np.where(self.pods_cap > 0, self.pods_cap - self.pods_used, UNLIMITED_PODS)
        for name, counts in self.groups.items():
            self.groups[name] = _grow(counts, (n,))
        for tag, counts in self.gpu_tags.items():
            self.gpu_tags[tag] = _grow(counts, (n,))
        self.tag_kinds = _grow(self.tag_kinds, (n,))
        self.epoch += 1
        self._static.clear()
        self._vectors.clear()
        self._values.clear()
        self._unknown.clear()
        self._refresh_gpu(slice(None))

    def _fill_row(self, row: int, node: Node) -> None:
        for dim, amount in node.capacity.items():
            if dim == PODS:
                self.pods_cap[row] = amount
            elif dim != GPU:
                self.capacity[row, self.dim_index[dim]] = amount
        self.gpu_count[row] = node.gpus
        for i, used in enumerate(node.gpu_used):
            self.gpu_free[row, i] = GPU_WHOLE - used
        labels = tuple(sorted((k, v) for k, v in node.labels.items() if k != HOSTNAME_LABEL))
        spec = (tuple(sorted(node.capacity.items())), node.gpus, node.gpu_model, node.zone, labels, node.taints,
                node.gpu_used)
        self.node_class[row] = self._classes.setdefault(spec, len(self._classes))

    def _refresh_gpu(self, rows: slice | int) -> None:
        """Recompute the derived GPU columns for all rows (a slice) or one row."""
        if isinstance(rows, slice):
            self.gpu_full = (self.gpu_free == GPU_WHOLE).sum(axis=1)
            self.gpu_best = self.gpu_free.max(axis=1, initial=0)
            self.gpu_left = self.gpu_free.sum(axis=1)
            return
        free = self.gpu_free[rows].tolist()
        self.gpu_full[rows] = free.count(GPU_WHOLE)
        self.gpu_best[rows] = max(free)
        self.gpu_left[rows] = sum(free)

    # ---- derived views -----------------------------------------------------------------
    def gpu_capacity(self) -> int:
        """Total milli-GPU in the cluster."""
        return int(self.gpu_count.sum()) * GPU_WHOLE

    def gpu_allocated(self) -> int:
        """Milli-GPU currently allocated across the cluster."""
        exists = np.arange(self.gpu_free.shape[1])[None, :] < self.gpu_count[:, None]
        return int((GPU_WHOLE - self.gpu_free)[exists].sum())

    def devices(self, row: int) -> np.ndarray:
        """Free milli-GPU of each device node `row` has (the padding slots left out)."""
        return self.gpu_free[row, : self.gpu_count[row]]

    def whole_devices(self, row: int, count: int) -> tuple[int, ...]:
        """The lowest-numbered `count` wholly free devices on `row` (fewer if it lacks them)."""
        free = np.flatnonzero(self.devices(row) == GPU_WHOLE)
        return tuple(int(i) for i in free[:count])

    def is_empty(self, row: int) -> bool:
        """True when node `row` runs no workload: no pods and every device wholly free."""
        return self.pods_used[row] == 0 and not (self.devices(row) < GPU_WHOLE).any()

    def request_vector(self, workload: Workload) -> np.ndarray:
        """The workload's scalar requests in this snapshot's column order (unknown dims ignored)."""
        key = workload.requests_id
        vec = self._vectors.get(key)
        if vec is None:
            if len(self._vectors) >= MAX_VECTORS:
                self._vectors.clear()
            vec = np.zeros(len(self.dims), np.int64)
            for dim, amount in workload.requests.items():
                if dim in self.dim_index:
                    vec[self.dim_index[dim]] = amount
            vec.flags.writeable = False
            self._vectors[key] = vec
        return vec

    def request_values(self, workload: Workload) -> tuple[int, ...]:
        """`request_vector` as a tuple of Python ints, for one-row arithmetic."""
        values = self._values.get(workload.requests_id)
        if values is None:
            values = self._values[workload.requests_id] = tuple(self.request_vector(workload).tolist())
        return values

    def unknown_dims(self, workload: Workload) -> list[str]:
        """Requested dimensions no node in the snapshot has at all."""
        key = workload.requests_id
        dims = self._unknown.get(key)
        if dims is None:
            dims = self._unknown[key] = [d for d in workload.requests
                                         if d not in self.dim_index and d not in (GPU, PODS)]
        return dims

    def derived(self, key: object, rows: np.ndarray, compute):
        """`compute()` for these very `rows` at the current tick, computed once and shared.

        Plugins evaluated on the same rows within one refresh derive the same columns (kube's
        resource scorers all need requested-after); any change to the snapshot forgets them.
        """
        stamp = (self.epoch, self.tick)
        if self._derived_at != stamp:
            self._derived.clear()
            self._derived_at = stamp
        hit = self._derived.get(key)
        if hit is not None and hit[0] is rows:
            return hit[1]
        value = compute()
        self._derived[key] = (rows, value)
        return value

    # ---- static (label and taint) masks, cached until the next structural change ----------
    def static_mask(self, key: object, compute) -> np.ndarray:
        """A cached per-node boolean/int column that depends only on node definitions."""
        mask = self._static.get(key)
        if mask is None:
            mask = self._static[key] = compute()
        return mask

    def label_mask(self, req: LabelRequirement) -> np.ndarray:
        """Nodes whose labels satisfy one requirement."""
        return self.static_mask(("label", req), lambda: np.fromiter(
            (req.matches(n.labels) for n in self.nodes), bool, len(self.nodes)))

    def untolerated(self, tolerations: tuple[Toleration, ...], effects: tuple[TaintEffect, ...]) -> np.ndarray:
        """Per node, how many taints with one of `effects` none of `tolerations` tolerates."""
        def count(taints: tuple[Taint, ...]) -> int:
            return sum(1 for t in taints if t.effect in effects
                       and not any(tol.tolerates(t) for tol in tolerations))
        return self.static_mask(("taint", tolerations, effects), lambda: np.fromiter(
            (count(n.taints) for n in self.nodes), np.int64, len(self.nodes)))

    def has_taints(self, effects: tuple[TaintEffect, ...]) -> bool:
        """True when any node has a taint with one of `effects`."""
        return bool(self.static_mask(("any-taint", effects), lambda: np.array(
            any(t.effect in effects for n in self.nodes for t in n.taints))))

    def name_rank(self) -> np.ndarray:
        """Each node's position in lexicographic order of names."""
        def ranks() -> np.ndarray:
            order = sorted(range(len(self.nodes)), key=lambda r: self.nodes[r].name)
            rank = np.empty(len(self.nodes), np.int64)
            rank[order] = np.arange(len(self.nodes))
            return rank
        return self.static_mask("name-rank", ranks)

    def zone_codes(self) -> np.ndarray:
        """An integer code per node for its zone (nodes without a zone share code 0)."""
        def codes() -> np.ndarray:
            vocab: dict[str, int] = {}
            return np.fromiter((vocab.setdefault(n.zone, len(vocab)) for n in self.nodes),
                               np.int64, len(self.nodes))
        return self.static_mask("zones", codes)

    # ---- mutation ----------------------------------------------------------------------------
    def assign(self, row: int, workload: Workload, devices: Sequence[int]) -> None:
        """Charge `workload` to node `row`, taking `gpu_milli` from each device in `devices`."""
        self._charge(row, workload, devices, +1)

    def release(self, row: int, workload: Workload, devices: Sequence[int]) -> None:
        """Undo an `assign` with the same arguments."""
        self._charge(row, workload, devices, -1)

    def _charge(self, row: int, workload: Workload, devices: Sequence[int], sign: int) -> None:
        delta = self.request_vector(workload)
        if sign > 0:
            self.used[row] += delta
            self.free[row] -= delta
        else:
            self.used[row] -= delta
            self.free[row] += delta
        self.pods_used[row] += sign
        self.pods_free[row] -= sign
        if devices:   # one slot by a scalar store, several by a fancy index (five times dearer)
            self.gpu_free[row, devices[0] if len(devices) == 1 else list(devices)] -= sign * workload.gpu_milli
            self._refresh_gpu(row)
        self._touch(row)
        for aa in workload.anti_affinity:
            self._count_group(row, aa.group, aa.topology, sign)
        if workload.gpu_count:
            self._count_tag(row, workload.gpu_affinity, sign)

    def _count_tag(self, row: int, tag: str, sign: int) -> None:
        counts = self._counter(self.gpu_tags, tag)
        was = counts[row]
        counts[row] += sign
        if (was == 0) != (counts[row] == 0):
            self.tag_kinds[row] += sign

    def _count_group(self, row: int, group: str, topology: str, sign: int) -> None:
        counts = self._counter(self.groups, f"{topology}:{group}")
        if topology == "node":
            counts[row] += sign
            return
        zones = self.zone_codes()
        same = zones == zones[row]
        counts[same] += sign
        for other in np.flatnonzero(same):
            self._touch(int(other))

    def _counter(self, table: dict[str, np.ndarray], key: str) -> np.ndarray:
        """The per-row count column `table[key]`, made (zeros) on first use."""
        counts = table.get(key)
        if counts is None:
            counts = table[key] = np.zeros(len(self.nodes), np.int64)
        return counts

    def _touch(self, row: int) -> None:
        self.tick += 1
        self.node_tick[row] = self.tick
        self.changes.append(row)
        if len(self.changes) > CHANGE_LOG:
            del self.changes[: CHANGE_LOG // 2]

    def alike(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows among `rows` that stand for the others, and for each of `rows` the index of its
        stand-in; None when too few are alike to be worth it.  Rows alike are nodes of one class
        that nothing has been placed on yet (`node_tick` 0): the same spec but for the name and
        the hostname label, and the same free resources."""
        pristine = self.node_tick[rows] == 0
        if pristine.sum() < ALIKE_MIN:
            return None
        key = np.where(pristine, self.node_class[rows], len(self._classes) + rows)
        _, first, spread = np.unique(key, return_index=True, return_inverse=True)
        if len(first) > ALIKE_SHARE * len(rows):
            return None
        return rows[first], spread

    def changed_since(self, tick: int) -> np.ndarray:
        """Rows changed after `tick`: from the change log when it reaches back, else by scan."""
        behind = self.tick - tick
        if behind == 0:
            return _NO_ROWS
        if behind == 1:
            return np.array(self.changes[-1:])
        if behind <= min(len(self.changes), SHORT_LOG):
            return np.array(sorted(set(self.changes[-behind:])))
        return np.flatnonzero(self.node_tick > tick)

    def group_count(self, group: str, topology: str) -> np.ndarray | None:
        """Members of an anti-affinity group per node (per its zone for zone topology)."""
        return self.groups.get(f"{topology}:{group}")

    def forget_group(self, group: str, topology: str = "node") -> bool:
        """Drop a group's count column once no member is charged (no column and a column of
        zeros mean the same to every plugin), so a long-lived snapshot does not keep one per
        group ever seen; False if members remain."""
        key = f"{topology}:{group}"
        counts = self.groups.get(key)
        if counts is not None and counts.any():
            return False
        self.groups.pop(key, None)
        return True


def _grow(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A zero-padded copy of `arr` enlarged to `shape` (or `arr` itself if already that size)."""
    if arr.shape == shape:
        return arr
    out = np.zeros(shape, arr.dtype)
    out[tuple(slice(0, s) for s in arr.shape)] = arr
    return out
