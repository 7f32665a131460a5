"""`Workload`: what a pod or server asks for, and where it may go.

Requests are a `Resources` vector.  GPU requests follow the trace's two shapes: a share of one
device (`gpu` below 1000, say 470) or whole devices (`gpu` a multiple of 1000).  Constraints are a
node selector (all requirements must hold), tolerations, anti-affinity groups and a priority.
The engine's filters and scorers read these fields; both control planes translate into them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from berth.model.constraints import AntiAffinity, Toleration
from berth.model.errors import ValidationError
from berth.model.labels import LabelRequirement
from berth.model.node import GPU_MODEL_LABEL, check_name
from berth.model.resources import GPU, GPU_WHOLE, Resources


_SHAPES: dict[object, tuple[object, int]] = {}
"""Interned shapes and request vectors: key -> (the one shared key object, its integer id)."""
_MAX_SHAPES = 100_000
_IDS = itertools.count(1)


@dataclass(frozen=True)
class Workload:
    """One unit of placement.  `Workload("web-1", Resources.of(cpu=100, memory=500))`."""

    name: str
    requests: Resources
    node_selector: tuple[LabelRequirement, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    anti_affinity: tuple[AntiAffinity, ...] = ()
    priority: int = 0
    gpu_count: int = field(init=False, repr=False, compare=False)
    """How many devices the workload touches (a share counts as one)."""
    gpu_milli: int = field(init=False, repr=False, compare=False)
    """Milli-GPU needed on each device it touches (1000 for whole devices)."""
    shape: tuple = field(init=False, repr=False, compare=False)
    """A hashable key: workloads with equal shapes are interchangeable to the engine.  Equal shapes
    are interned to one object, so caches keyed by shape (or by `shape[0]`, the requests) hit on
    identity rather than comparing field by field."""
    shape_id: int = field(init=False, repr=False, compare=False)
    """An integer naming `shape` within this process: equal ids mean equal shapes (ids are never
    reused), so per-decision caches key on it without hashing the requests."""
    requests_id: int = field(init=False, repr=False, compare=False)
    """The same for `requests` alone."""

    def __post_init__(self) -> None:
        check_name(self.name, "workload.name")
        if not isinstance(self.requests, Resources):
            try:
                object.__setattr__(self, "requests", Resources(dict(self.requests)))
            except ValidationError as err:
                raise err.under("workload.requests") from None
        gpu = self.requests[GPU]
        if gpu > GPU_WHOLE and gpu % GPU_WHOLE:
            raise ValidationError("workload.requests.gpu",
                                  f"{gpu} milli-GPU: above one device, ask for whole devices")
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ValidationError("workload.priority", f"must be an integer, got {self.priority!r}")
        for name in ("node_selector", "tolerations", "anti_affinity"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self._derive(gpu)

    def _derive(self, gpu: int) -> None:
        """Set the derived fields once: the engine reads them on every decision."""
        object.__setattr__(self, "gpu_count", 0 if gpu == 0 else max(1, gpu // GPU_WHOLE))
        object.__setattr__(self, "gpu_milli", min(gpu, GPU_WHOLE))
        if len(_SHAPES) > _MAX_SHAPES:
            _SHAPES.clear()
        requests, requests_id = _intern(self.requests)
        shape, shape_id = _intern((requests, self.node_selector, self.tolerations, self.anti_affinity))
        for name, value in (("shape", shape), ("shape_id", shape_id), ("requests_id", requests_id)):
            object.__setattr__(self, name, value)

    def __reduce__(self):
        """Pickle by the constructor's arguments, so the derived fields (and ids) are this process's."""
        return (Workload, (self.name, self.requests, self.node_selector, self.tolerations,
                           self.anti_affinity, self.priority))

    @property
    def gpu_affinity(self) -> str:
        """The kind of GPU demand: `no-gpu`, `share-gpu`, or `<k>-gpu` for k whole devices."""
        if not self.gpu_count:
            return "no-gpu"
        return "share-gpu" if self.gpu_milli < GPU_WHOLE else f"{self.gpu_count}-gpu"


def _intern(key):
    """The shared copy of `key` and its id, registering it on first sight."""
    hit = _SHAPES.get(key)
    if hit is None:
        hit = _SHAPES[key] = (key, next(_IDS))
    return hit


def gpu_model_selector(models: tuple[str, ...] | list[str]) -> tuple[LabelRequirement, ...]:
    """The node selector for "any of these GPU models" (empty for no restriction)."""
    models = tuple(m for m in models if m)
    return (LabelRequirement(GPU_MODEL_LABEL, "In", models),) if models else ()
