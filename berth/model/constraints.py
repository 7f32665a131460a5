"""Placement constraints shared by nodes and workloads: labels, taints, tolerations, anti-affinity.

These mirror the Kubernetes vocabulary (a `Taint` has an effect, a `Toleration` matches taints) so
that both control planes can translate their own API objects into them.  The engine's filter plugins
read them.  Label keys, values and `LabelRequirement` (one matchExpression of a node selector term)
live in `berth.model.labels` with the selector matcher, and are re-exported here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from berth.model.errors import ValidationError
from berth.model.labels import LabelRequirement, check_label_key, check_label_value

__all__ = ["AntiAffinity", "LabelRequirement", "Taint", "TaintEffect", "Toleration", "check_label_key",
           "check_label_value"]


class TaintEffect(str, enum.Enum):
    """What a taint does to workloads that do not tolerate it."""

    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


@dataclass(frozen=True)
class Taint:
    """A node taint: workloads without a matching toleration are kept off (or discouraged)."""

    key: str
    value: str = ""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE

    def __post_init__(self) -> None:
        check_label_key(self.key, "taints.key")
        check_label_value(self.value, "taints.value")
        object.__setattr__(self, "effect", _effect(self.effect, "taints.effect"))

    def __str__(self) -> str:
        return f"{{{self.key}: {self.value}}}"


def _effect(value: object, field_path: str) -> TaintEffect:
    try:
        return TaintEffect(value)
    except ValueError:
        allowed = ", ".join(e.value for e in TaintEffect)
        raise ValidationError(field_path, f"unknown effect {value!r}; one of {allowed}") from None


@dataclass(frozen=True)
class Toleration:
    """Tolerates taints with `key` (all keys if empty); `operator` is Equal or Exists."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: TaintEffect | None = None

    def __post_init__(self) -> None:
        if self.operator not in ("Equal", "Exists"):
            raise ValidationError("tolerations.operator", f"must be Equal or Exists, got {self.operator!r}")
        if self.key:
            check_label_key(self.key, "tolerations.key")
        elif self.operator != "Exists":
            raise ValidationError("tolerations.operator", "an empty key requires operator Exists")
        if self.effect is not None:
            object.__setattr__(self, "effect", _effect(self.effect, "tolerations.effect"))

    def tolerates(self, taint: Taint) -> bool:
        """True when this toleration matches `taint`, following Kubernetes' rules."""
        if self.effect is not None and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


@dataclass(frozen=True)
class AntiAffinity:
    """Keep workloads of the same `group` apart across the given topology (`node` or `zone`)."""

    group: str
    topology: str = "node"

    def __post_init__(self) -> None:
        if not self.group:
            raise ValidationError("antiAffinity.group", "must not be empty")
        if self.topology not in ("node", "zone"):
            raise ValidationError("antiAffinity.topology", "must be node or zone")
