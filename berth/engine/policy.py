"""Named placement policies: which filters run, which scorers with what weights, how ties break.

A `Policy` is plain data; `POLICIES` is the registry the CLI, the planes and the simulator look
names up in.  `Policy.build(context)` instantiates the plugins from the name -> factory tables
(`FILTERS`, `SCORERS`, `DEVICE_PICKERS`); score and device factories take the context and a
dict shared by the plugins of one built policy (FGD's scorer and device picker share a model).  The `PolicyContext` carries what some plugins need
beyond the snapshot, such as the workload mix that fragmentation-aware scorers measure against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.engine.devices import DEVICE_PICKERS
from berth.engine.filters import FILTERS
from berth.engine.plugins import DevicePicker, FilterPlugin, ScorePlugin
from berth.engine.repair import REPAIRS, Repair
from berth.engine.scorers import SCORERS
from berth.model import ValidationError

ALL_FILTERS = ("node-selector", "taint-toleration", "anti-affinity", "resource-fit")
TIE_BREAKS = ("random", "first", "name")


@dataclass(frozen=True)
class DemandClass:
    """One kind of workload in a mix: per-workload requests and its share of arrivals."""

    cpu: int
    memory: int
    gpu: int
    gpu_models: tuple[str, ...] = ()
    weight: float = 1.0


@dataclass(frozen=True)
class PolicyContext:
    """What plugins may know beyond the snapshot: the expected workload mix (may be empty)."""

    mix: tuple[DemandClass, ...] = ()


@dataclass(frozen=True)
class BuiltPolicy:
    """A policy's plugins, instantiated and ready for the engine."""

    name: str
    filters: tuple[FilterPlugin, ...]
    scorers: tuple[tuple[ScorePlugin, float], ...]
    devices: DevicePicker
    tie_break: str
    repair: Repair | None = None


@dataclass(frozen=True)
class Policy:
    """A named set of plugins and weights."""

    name: str
    summary: str
    scorers: tuple[tuple[str, float], ...] = ()
    filters: tuple[str, ...] = ALL_FILTERS
    devices: str = "best-fit"
    tie_break: str = "random"
    """Among equal best scores: `random` (kube-scheduler's reservoir sampling), `first` (lowest
    row, Nova's stable sort) or `name` (smallest node name, the FGD simulator's reproducible rule)."""
    needs_mix: bool = field(default=False)
    repair: str | None = None
    """A `Repair` from `REPAIRS`, used only by engines whose caller can move workloads."""

    def build(self, context: PolicyContext) -> BuiltPolicy:
        """Instantiate the plugins by name; unknown names raise `ValidationError`."""
        shared: dict = {}
        filters = tuple(_lookup(FILTERS, n, "filters")() for n in self.filters)
        scorers = tuple((_lookup(SCORERS, n, "scorers")(context, shared), w) for n, w in self.scorers)
        devices = _lookup(DEVICE_PICKERS, self.devices, "devices")(context, shared)
        if self.tie_break not in TIE_BREAKS:
            raise ValidationError("policy.tieBreak", f"must be one of {', '.join(TIE_BREAKS)}")
        repair = _lookup(REPAIRS, self.repair, "repair")() if self.repair else None
        return BuiltPolicy(self.name, filters, scorers, devices, self.tie_break, repair)


def _lookup(table: dict, name: str, what: str):
    if name not in table:
        raise ValidationError(f"policy.{what}", f"unknown plugin {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


POLICIES: dict[str, Policy] = {p.name: p for p in (
    Policy("kube-default", "kube-scheduler defaults: LeastAllocated 1, BalancedAllocation 1, TaintToleration 3",
           (("least-allocated", 1), ("balanced-allocation", 1), ("taint-toleration", 3))),
    Policy("most-allocated", "kube-scheduler bin packing: MostAllocated 1, BalancedAllocation 1, TaintToleration 3",
           (("most-allocated", 1), ("balanced-allocation", 1), ("taint-toleration", 3))),
    Policy("random", "FGD paper baseline: a uniformly random feasible node, random fitting GPU",
           (("random", 1),), devices="random"),
    Policy("dot-product", "FGD paper baseline: Tetris dot-product alignment over cpu and gpu",
           (("dot-product", 1),), tie_break="name"),
    Policy("gpu-clustering", "FGD paper baseline: keep GPU workloads of one kind together",
           (("gpu-clustering", 1),), tie_break="name"),
    Policy("gpu-packing", "FGD paper baseline: partly used GPUs first, then used nodes, then idle",
           (("gpu-packing", 1),), tie_break="name"),
    Policy("best-fit", "FGD paper baseline: least weighted cpu+gpu leftover",
           (("best-fit", 1),), tie_break="name"),
    Policy("fgd", "Fragmentation gradient descent (Weng et al., ATC'23) against the workload mix",
           (("fgd", 1),), devices="fgd", tie_break="name", needs_mix=True),
    Policy("fgd-ss", "Experimental: FGD plus a sum-of-squares term on GPU gap sizes (not better than fgd overall)",
           (("fgd-ss", 1),), devices="fgd-ss", tie_break="name", needs_mix=True),
    Policy("fgd-strand", "FGD whose fragment also counts GPU stranded by missing CPU, best fit on ties",
           (("fgd-strand", 1),), devices="fgd-strand", tie_break="name", needs_mix=True),
    Policy("fgd-lookahead", "fgd-strand plus the expected eventual waste of the hole a GPU share leaves",
           (("fgd-lookahead", 1),), devices="fgd-lookahead", tie_break="name", needs_mix=True),
    Policy("fgd-repair", "fgd-lookahead; when a GPU workload fits nowhere, re-packs the shares on the 24 devices "
           "with the largest holes to make room (moves running shares: simulator only)",
           (("fgd-lookahead", 1),), devices="fgd-lookahead", tie_break="name", needs_mix=True, repair="repack"),
    Policy("nova-default", "Nova's RAM and CPU weighers, multipliers 1.0 (spread), first host wins ties",
           (("ram-weigher", 1.0), ("cpu-weigher", 1.0)), tie_break="first"),
)}


def get_policy(name: str) -> Policy:
    """The registered policy `name`; an unknown name raises `ValidationError` listing the known ones."""
    if name not in POLICIES:
        raise ValidationError("policy", f"unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}")
    return POLICIES[name]
