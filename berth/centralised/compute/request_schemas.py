"""Request bodies of the compute API as pydantic models (they also make its OpenAPI document).

Shapes follow Nova's: `{"flavor": {...}}`, `{"server": {...}, "os:scheduler_hints": {...}}`,
`{"server_group": {"name", "policy", "rules"}}` (microversion 2.64 form).  Extra keys are
rejected, so a typo is a 400 naming the field rather than a silently ignored setting.
Imported by `compute.api`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

NAME = Field(min_length=1, max_length=255, pattern=r"^\S(.*\S)?$")
POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlavorSpec(Strict):
    name: str = NAME
    id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    vcpus: int = Field(ge=1, le=4096)
    ram: int = Field(ge=1, le=2**31 - 1, description="MiB")
    disk: int = Field(default=0, ge=0, le=2**31 - 1, description="GiB")
    extra_specs: dict[str, str] = Field(default_factory=dict, description=(
        "`resources:<CLASS>` = amount, `trait:<TRAIT>` = required | forbidden"))


class FlavorCreate(Strict):
    flavor: FlavorSpec


class ServerSpec(Strict):
    name: str = NAME
    flavorRef: str = Field(min_length=1, max_length=64)
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)
    command: list[str] = Field(default_factory=list, max_length=64, description=(
        "What the server runs on its compute agent (argv); empty runs an idle placeholder."))


class SchedulerHints(Strict):
    group: str | None = Field(default=None, min_length=1, max_length=36)


class ServerCreate(Strict):
    server: ServerSpec
    scheduler_hints: SchedulerHints | None = Field(default=None, alias="os:scheduler_hints")
    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra={"examples": [
        {"server": {"name": "web-1", "flavorRef": "1", "command": ["sleep", "3600"]}}]})


class GroupRules(Strict):
    max_server_per_host: int | None = Field(default=None, ge=1, le=1, description=(
        "Only 1 is supported: the engine's anti-affinity filter keeps members one per host."))


class GroupSpec(Strict):
    name: str = NAME
    policy: Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]
    rules: GroupRules | None = None


class GroupCreate(Strict):
    server_group: GroupSpec


class ServiceReport(Strict):
    """What a compute agent reports about itself (a berth extension; Nova's go over RPC)."""

    host: str = Field(min_length=1, max_length=255, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    url: str = Field(min_length=1, max_length=1024, pattern=r"^https?://")
    rp_uuid: str = Field(pattern=r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
    availability_zone: str = Field(default="nova", min_length=1, max_length=255)


class ServiceUpdate(Strict):
    status: Literal["enabled", "disabled"]
