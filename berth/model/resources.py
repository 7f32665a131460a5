"""Named integer resource dimensions and the `Resources` vector used by nodes and workloads.

Units are fixed so that every layer agrees without conversion: `cpu` in millicores, `memory` in
MiB, `gpu` in milli-GPU (1000 is one whole device), `pods` as a count.  Any other name that is a
valid label-style identifier is a custom, opaque integer dimension (for example
`example.com/fpga`).  Used by `Node`, `Workload`, the engine's snapshot and the trace loaders.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from berth.model.errors import ValidationError
from berth.model.labels import key_problems

CPU = "cpu"
MEMORY = "memory"
GPU = "gpu"
PODS = "pods"
GPU_WHOLE = 1000
"""Milli-GPU in one whole device."""

STANDARD = {
    CPU: "millicores",
    MEMORY: "MiB",
    GPU: "milli-GPU",
    PODS: "count",
}
"""The built-in dimensions and their units."""

def check_name(name: str, prefix: str = "") -> str:
    """Return `name` if it is a built-in or well-formed custom resource name."""
    if name in STANDARD:
        return name
    if not isinstance(name, str) or "/" not in name or key_problems(name):
        raise ValidationError(
            f"{prefix}.{name}" if prefix else str(name),
            "unknown resource; use cpu, memory, gpu, pods or a domain-prefixed custom name "
            "such as example.com/fpga",
        )
    return name


@dataclass(frozen=True, eq=False)
class Resources(Mapping[str, int]):
    """An immutable mapping of resource name to a non-negative integer amount."""

    amounts: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean: dict[str, int] = {}
        for name, value in dict(self.amounts).items():
            check_name(name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(name, f"must be an integer, got {value!r}")
            if value < 0:
                raise ValidationError(name, f"must not be negative, got {value}")
            if value:
                clean[name] = value
        object.__setattr__(self, "amounts", clean)
        object.__setattr__(self, "_hash", hash(tuple(sorted(clean.items()))))

    @classmethod
    def of(cls, **amounts: int) -> "Resources":
        """Build from keyword arguments; `Resources.of(cpu=100, memory=512)`."""
        return cls(amounts)

    def __getitem__(self, name: str) -> int:
        return self.amounts.get(name, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self.amounts)

    def __len__(self) -> int:
        return len(self.amounts)

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resources):
            return self.amounts == other.amounts
        return NotImplemented

    def __add__(self, other: "Resources") -> "Resources":
        names = set(self) | set(other)
        return Resources({n: self[n] + other[n] for n in names})

    def fits_in(self, other: "Resources") -> bool:
        """True when every dimension of self is at most that of `other`."""
        return all(v <= other[n] for n, v in self.amounts.items())
