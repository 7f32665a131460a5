"""`Node`: a machine's capacity, labels, taints, zone and per-device GPU state.

A node's GPUs are tracked one by one: `gpu_used[i]` is the milli-GPU already taken on device i
(0 to 1000).  The `gpu` entry of `capacity` is derived from the device count, so there is a single
source of truth.  The GPU model and zone are also exposed as the well-known labels
`GPU_MODEL_LABEL` and `ZONE_LABEL`, so selectors can match them like any other label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from berth.model.constraints import Taint
from berth.model.errors import ValidationError
from berth.model.labels import check_label_key, check_label_value, subdomain_problems
from berth.model.resources import GPU, GPU_WHOLE, Resources

GPU_MODEL_LABEL = "gpu.berth.io/model"
ZONE_LABEL = "topology.kubernetes.io/zone"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def check_name(name: str, field_path: str = "name") -> str:
    """Return `name` if it is an RFC 1123 subdomain (lower case, at most 253 characters)."""
    if not isinstance(name, str) or subdomain_problems(name):
        raise ValidationError(field_path, f"{name!r} is not a valid name (RFC 1123: lower-case "
                              "letters, digits, '-' and '.', starting and ending alphanumeric)")
    return name


@dataclass(frozen=True)
class Node:
    """A schedulable machine.  Build with `Node(name, Resources.of(cpu=..., memory=...), gpus=2)`."""

    name: str
    capacity: Resources
    gpus: int = 0
    gpu_model: str = ""
    zone: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    gpu_used: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        check_name(self.name, "node.name")
        if not isinstance(self.capacity, Resources):
            object.__setattr__(self, "capacity", _resources(self.capacity, "node.capacity"))
        self._check_gpus()
        labels = dict(self.labels)
        for key, value in labels.items():
            check_label_key(key, f"node.labels.{key}")
            check_label_value(value, f"node.labels.{key}")
        labels.setdefault(HOSTNAME_LABEL, self.name)
        if self.gpu_model:
            labels[GPU_MODEL_LABEL] = check_label_value(self.gpu_model, "node.gpuModel")
        if self.zone:
            labels[ZONE_LABEL] = check_label_value(self.zone, "node.zone")
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "taints", tuple(self.taints))

    def _check_gpus(self) -> None:
        if isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0:
            raise ValidationError("node.gpus", f"must be a non-negative integer, got {self.gpus!r}")
        declared = self.capacity[GPU]
        if declared and declared != self.gpus * GPU_WHOLE:
            raise ValidationError("node.capacity.gpu", f"{declared} disagrees with {self.gpus} device(s)")
        if self.gpus and not declared:
            amounts = dict(self.capacity.amounts, **{GPU: self.gpus * GPU_WHOLE})
            object.__setattr__(self, "capacity", Resources(amounts))
        used = tuple(self.gpu_used) or (0,) * self.gpus
        if len(used) != self.gpus or any(not 0 <= u <= GPU_WHOLE for u in used):
            raise ValidationError("node.gpuUsed", f"needs {self.gpus} values between 0 and {GPU_WHOLE}")
        object.__setattr__(self, "gpu_used", used)


def _resources(value: object, field_path: str) -> Resources:
    try:
        return Resources(dict(value))  # type: ignore[call-overload]
    except ValidationError as err:
        raise err.under(field_path) from None
    except (TypeError, ValueError):
        raise ValidationError(field_path, f"must be a mapping of resource to integer, got {value!r}") from None
