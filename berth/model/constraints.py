"""Placement constraints shared by nodes and workloads: labels, taints, tolerations, anti-affinity.

These mirror the Kubernetes vocabulary (a `LabelRequirement` is one matchExpression of a node
selector term, a `Taint` has an effect, a `Toleration` matches taints) so that both control planes
can translate their own API objects into them.  The engine's filter plugins read them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from berth.model.errors import ValidationError

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def check_label_key(key: str, field_path: str) -> str:
    """Return `key` if it is a valid (optionally prefixed) label key of at most 63+253 chars."""
    if not isinstance(key, str) or not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise ValidationError(field_path, f"invalid label key {key!r}")
    return key


def check_label_value(value: str, field_path: str) -> str:
    """Return `value` if it is a valid label value (at most 63 characters)."""
    if not isinstance(value, str) or not _LABEL_VALUE.match(value) or len(value) > 63:
        raise ValidationError(field_path, f"invalid label value {value!r}")
    return value


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
class LabelRequirement:
    """One node-label requirement: `key` In/NotIn `values`, or Exists/DoesNotExist."""

    key: str
    operator: str = "In"
    values: tuple[str, ...] = ()

    OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

    def __post_init__(self) -> None:
        check_label_key(self.key, "nodeSelector.key")
        if self.operator not in self.OPERATORS:
            raise ValidationError("nodeSelector.operator", f"must be one of {', '.join(self.OPERATORS)}")
        values = tuple(self.values)
        for v in values:
            check_label_value(v, f"nodeSelector.{self.key}")
        if self.operator in ("In", "NotIn") and not values:
            raise ValidationError(f"nodeSelector.{self.key}", f"operator {self.operator} needs values")
        object.__setattr__(self, "values", values)

    def matches(self, labels: dict[str, str]) -> bool:
        """True when a node with `labels` satisfies this requirement."""
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        inside = present and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


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
