"""What a compute host offers Placement: inventory records with reserved amounts and ratios.

Defaults follow Nova's (Antelope and later): cpu_allocation_ratio 4.0, ram and disk 1.0,
reserved_host_memory_mb 512, nothing else reserved.  `HostResources.inventories()` is the body
of `PUT /resource_providers/{uuid}/inventories` (less the generation).  Pure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostResources:
    vcpus: int
    memory_mb: int
    disk_gb: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_cpus: int = 0
    reserved_host_memory_mb: int = 512
    reserved_host_disk_gb: int = 0

    def __post_init__(self) -> None:
        for name in ("vcpus", "memory_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.reserved_host_memory_mb >= self.memory_mb:
            raise ValueError(f"reserved_host_memory_mb: {self.reserved_host_memory_mb} leaves nothing of "
                             f"{self.memory_mb} MiB")

    def inventories(self) -> dict[str, dict]:
        rows = {"VCPU": (self.vcpus, self.reserved_host_cpus, self.cpu_allocation_ratio),
                "MEMORY_MB": (self.memory_mb, self.reserved_host_memory_mb, self.ram_allocation_ratio),
                "DISK_GB": (self.disk_gb, self.reserved_host_disk_gb, self.disk_allocation_ratio)}
        return {rc: {"total": total, "reserved": reserved, "allocation_ratio": ratio, "min_unit": 1,
                     "max_unit": total, "step_size": 1}
                for rc, (total, reserved, ratio) in rows.items() if total > 0}
