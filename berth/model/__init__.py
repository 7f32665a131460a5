"""The model layer: frozen, validated descriptions of resources, nodes and workloads.

Nothing here does I/O or keeps mutable state; the engine, the stores and the control planes
all build on these types.  Validation failures raise `ValidationError`, which names the field.
"""

from berth.model.errors import ValidationError
from berth.model.resources import CPU, GPU, MEMORY, PODS, Resources, GPU_WHOLE
from berth.model.constraints import (
    AntiAffinity,
    Taint,
    TaintEffect,
    Toleration,
)
from berth.model.labels import LabelRequirement
from berth.model.node import Node
from berth.model.workload import Workload

__all__ = [
    "AntiAffinity",
    "CPU",
    "GPU",
    "GPU_WHOLE",
    "LabelRequirement",
    "MEMORY",
    "Node",
    "PODS",
    "Resources",
    "Taint",
    "TaintEffect",
    "Toleration",
    "ValidationError",
    "Workload",
]
