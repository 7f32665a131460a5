"""`RequestSpec`: what one server build asks of the scheduler, and how flavors turn into it.

A flavor gives the standard resource classes (VCPU, MEMORY_MB, DISK_GB); its extra specs may
add or override classes (`resources:CUSTOM_X=2`, `resources:DISK_GB=0` drops a class) and ask
for traits (`trait:HW_CPU_X86_AVX2=required` or `=forbidden`), as Nova's do.  A zone maps to a
Placement aggregate by a fixed name-based UUID (`zone_aggregate`), which agents join and the
`map_az_to_placement_aggregate` prefilter asks for.  Pure data; used by the conductor, the
scheduler and the compute API (to validate extra specs).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field

RC_NAME = re.compile(r"^[A-Z0-9_]+$")
TRAIT_NAME = re.compile(r"^[A-Z0-9_]+$")
ZONE_NAMESPACE = uuid.UUID("6f1c1b8e-5a3e-4d2b-9a53-0c6b8f6d2a11")
TRAIT_VALUES = ("required", "forbidden")


def zone_aggregate(zone: str) -> str:
    """The Placement aggregate UUID standing for availability zone `zone`."""
    return str(uuid.uuid5(ZONE_NAMESPACE, f"availability-zone:{zone}"))


def provider_uuid(host: str) -> str:
    """The resource provider UUID an agent named `host` reports as (stable across restarts)."""
    return str(uuid.uuid5(ZONE_NAMESPACE, f"compute-host:{host}"))


@dataclass(frozen=True)
class ExtraSpecs:
    resources: dict[str, int] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


def parse_extra_specs(specs: dict[str, str]) -> ExtraSpecs:
    """Read `resources:` and `trait:` keys; other keys are kept by the flavor and ignored here.

    Raises ValueError naming the key for a malformed class, trait, amount or trait value."""
    resources, required, forbidden = {}, [], []
    for key, value in sorted(specs.items()):
        kind, _, name = key.partition(":")
        if kind == "resources":
            if not RC_NAME.match(name) or not value.isdigit():
                raise ValueError(f"extra spec {key}={value!r}: want resources:<CLASS>=<non-negative integer>")
            resources[name] = int(value)
        elif kind == "trait":
            if not TRAIT_NAME.match(name) or value not in TRAIT_VALUES:
                raise ValueError(f"extra spec {key}={value!r}: want trait:<TRAIT>=required|forbidden")
            (required if value == "required" else forbidden).append(name)
    return ExtraSpecs(resources, tuple(required), tuple(forbidden))


def flavor_resources(flavor: dict) -> dict[str, int]:
    """Resource classes and amounts one server of `flavor` needs (zero amounts dropped)."""
    amounts = {"VCPU": flavor["vcpus"], "MEMORY_MB": flavor["ram"], "DISK_GB": flavor.get("disk", 0)}
    amounts.update(parse_extra_specs(flavor.get("extra_specs") or {}).resources)
    return {rc: n for rc, n in amounts.items() if n > 0}


@dataclass(frozen=True)
class GroupInfo:
    """A server group as the scheduler sees it: policy and the hosts of its other members."""

    id: str
    policy: str
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestSpec:
    """One server to place.  `ignore_hosts` are hosts already tried for this build."""

    instance_uuid: str
    project_id: str
    user_id: str
    resources: dict[str, int]
    required_traits: tuple[str, ...] = ()
    forbidden_traits: tuple[str, ...] = ()
    availability_zone: str | None = None
    group: GroupInfo | None = None
    ignore_hosts: tuple[str, ...] = ()

    @classmethod
    def for_server(cls, server: dict, group: GroupInfo | None = None) -> "RequestSpec":
        extra = parse_extra_specs(server["flavor"].get("extra_specs") or {})
        return cls(server["id"], server["project_id"], server["user_id"], flavor_resources(server["flavor"]),
                   extra.required, extra.forbidden, server.get("availability_zone"), group,
                   tuple(server.get("tried_hosts") or ()))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RequestSpec":
        group = GroupInfo(**{**data["group"], "hosts": tuple(data["group"]["hosts"])}) if data.get("group") else None
        return cls(**{**data, "group": group, "required_traits": tuple(data.get("required_traits", ())),
                      "forbidden_traits": tuple(data.get("forbidden_traits", ())),
                      "ignore_hosts": tuple(data.get("ignore_hosts", ()))})
