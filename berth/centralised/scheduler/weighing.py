"""The scheduler's engine policy: the engine's filters, nova-default's weighers, and multipliers.

`NovaWeighing(multipliers).build(ctx)` returns the engine's `BuiltPolicy`, so `Engine` runs it
like any named policy.  Filters are the engine's own (`FILTERS`, in nova-default's order); the
RAM and CPU weighers are nova-default's scorers with their multipliers taken from
`WeigherConfig`; the disk weigher is the same engine class over the DISK_GB dimension.  The two
server-group weighers (Nova's ServerGroupSoftAffinityWeigher and -SoftAntiAffinityWeigher,
which the engine has no counterpart for) depend on the request's group, so `group_weighers`
gives them per request, as extra scorers of one decision (`Engine.evaluate(extra=...)`, added
after the policy's own, where Nova's weigher order has them); they count group members per
host and reuse the engine weigher's min-max normalisation.  Ties go to the first (best-ranked)
host, as Nova's stable sort does.  Pure; called by `select` and `hoststate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from berth.centralised.scheduler.hosts import dim
from berth.centralised.scheduler.request import GroupInfo
from berth.engine.devices import DEVICE_PICKERS
from berth.engine.filters import FILTERS
from berth.engine.plugins import Rows
from berth.engine.policy import BuiltPolicy, PolicyContext, get_policy
from berth.engine.scorers import SCORERS
from berth.engine.scorers.nova import FreeResourceWeigher
from berth.engine.snapshot import Snapshot
from berth.model import Workload

BASE_POLICY = "nova-default"


@dataclass(frozen=True)
class WeigherConfig:
    """Nova's `[filter_scheduler]` weigher multipliers (defaults as upstream)."""

    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    soft_affinity_weight_multiplier: float = 1.0
    soft_anti_affinity_weight_multiplier: float = 1.0


MULTIPLIERS = {"ram": "ram_weight_multiplier", "cpu": "cpu_weight_multiplier", "disk": "disk_weight_multiplier",
               "soft-affinity": "soft_affinity_weight_multiplier",
               "soft-anti-affinity": "soft_anti_affinity_weight_multiplier"}
"""Short names accepted by `multipliers` (and the scheduler's `--multiplier` option)."""


def multipliers(items: list[str]) -> dict[str, float]:
    """`["ram=-1", "cpu=0.5"]` -> WeigherConfig keyword arguments; ValueError names a bad item."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in MULTIPLIERS:
            raise ValueError(f"--multiplier {item!r}: want NAME=VALUE with NAME one of {', '.join(MULTIPLIERS)}")
        try:
            out[MULTIPLIERS[name]] = float(value)
        except ValueError:
            raise ValueError(f"--multiplier {item!r}: {value!r} is not a number") from None
    return out


MULTIPLIER_OF = {"ram-weigher": "ram_weight_multiplier", "cpu-weigher": "cpu_weight_multiplier"}
SOFT_GROUP = {"soft-affinity": ("soft-affinity-weigher", 1.0, "soft_affinity_weight_multiplier"),
              "soft-anti-affinity": ("soft-anti-affinity-weigher", -1.0, "soft_anti_affinity_weight_multiplier")}
"""Soft server-group policy -> its weigher's name, sign (+1 prefers members) and multiplier."""


class GroupMemberWeigher(FreeResourceWeigher):
    """Weighs hosts by members of one server group on them (`sign` -1 prefers fewer)."""

    def __init__(self, name: str, group: str, sign: float) -> None:
        super().__init__(name, "cpu")
        self.group, self.sign = group, sign

    def skip(self, snap: Snapshot, workload: Workload) -> bool:
        return snap.group_count(self.group, "node") is None

    def score(self, snap: Snapshot, workload: Workload, rows: Rows) -> np.ndarray:
        return self.sign * snap.group_count(self.group, "node")[rows].astype(float)


@dataclass(frozen=True)
class NovaWeighing:
    """The scheduler's policy spec, the same for every request (see module docstring)."""

    config: WeigherConfig = WeigherConfig()
    name: str = "nova-scheduler"

    def build(self, context: PolicyContext) -> BuiltPolicy:
        base = get_policy(BASE_POLICY)
        filters = tuple(FILTERS[n]() for n in base.filters)
        scorers = [(SCORERS[n](context, {}), getattr(self.config, MULTIPLIER_OF.get(n, ""), w))
                   for n, w in base.scorers]
        scorers.append((FreeResourceWeigher("disk-weigher", dim("DISK_GB")[0]), self.config.disk_weight_multiplier))
        devices = DEVICE_PICKERS[base.devices](context, {})
        return BuiltPolicy(self.name, filters, tuple((s, w) for s, w in scorers if w), devices, "first")


def group_weighers(config: WeigherConfig, group: GroupInfo | None) -> tuple[tuple[GroupMemberWeigher, float], ...]:
    """The soft server-group weigher of a request's group, with its multiplier (none if zero)."""
    if group is None or group.policy not in SOFT_GROUP:
        return ()
    name, sign, multiplier = SOFT_GROUP[group.policy]
    weight = getattr(config, multiplier)
    return ((GroupMemberWeigher(name, group.id, sign), weight),) if weight else ()
