"""Request bodies of the compute API as JSON Schemas (they also make its OpenAPI document).

Shapes follow Nova's: `{"flavor": {...}}`, `{"server": {...}, "os:scheduler_hints": {...}}`,
`{"server_group": {"name", "policy", "rules"}}` (microversion 2.64 form).  Extra keys are
rejected, so a typo is a 400 naming the field rather than a silently ignored setting.
Patterns end in `\\Z`, not `$`, so a trailing newline is refused too.  Used by
`compute.routes` (through `berth.centralised.bodies.parse`) and `compute.api` (OpenAPI).
"""

from __future__ import annotations

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def _string(low: int, high: int, pattern: str | None = None, null: bool = False) -> dict:
    schema: dict = {"type": ["string", "null"] if null else "string", "minLength": low, "maxLength": high}
    return schema | ({"pattern": pattern} if pattern else {})


def _integer(low: int, high: int, null: bool = False) -> dict:
    return {"type": ["integer", "null"] if null else "integer", "minimum": low, "maximum": high}


def _strict(properties: dict, required: tuple[str, ...] = (), null: bool = False, **extra) -> dict:
    """An object with exactly these keys allowed (Nova's `additionalProperties: false`)."""
    schema = {"type": ["object", "null"] if null else "object", "properties": properties,
              "additionalProperties": False, **extra}
    return schema | ({"required": list(required)} if required else {})


NAME = _string(1, 255, r"^\S(.*\S)?\Z")
INT32 = 2**31 - 1

FLAVOR_CREATE = _strict({"flavor": _strict({
    "name": NAME,
    "id": _string(1, 64, r"^[A-Za-z0-9_.-]+\Z", null=True),
    "vcpus": _integer(1, 4096),
    "ram": _integer(1, INT32) | {"description": "MiB"},
    "disk": _integer(0, INT32) | {"description": "GiB"},
    "extra_specs": {"type": "object", "additionalProperties": {"type": "string"}, "description":
                    "`resources:<CLASS>` = amount, `trait:<TRAIT>` = required | forbidden"},
}, ("name", "vcpus", "ram"))}, ("flavor",))

_HINTS = _strict({"group": _string(1, 36, null=True)}, null=True)
SERVER_CREATE = _strict({
    "server": _strict({
        "name": NAME,
        "flavorRef": _string(1, 64),
        "availability_zone": _string(1, 255, null=True),
        "command": {"type": "array", "items": {"type": "string"}, "maxItems": 64, "description":
                    "What the server runs on its compute agent (argv); empty runs an idle placeholder."},
    }, ("name", "flavorRef")),
    "os:scheduler_hints": _HINTS,
    "scheduler_hints": _HINTS,
}, ("server",), examples=[{"server": {"name": "web-1", "flavorRef": "1", "command": ["sleep", "3600"]}}])

GROUP_CREATE = _strict({"server_group": _strict({
    "name": NAME,
    "policy": {"type": "string", "enum": list(POLICIES)},
    "rules": _strict({"max_server_per_host": _integer(1, 1, null=True) | {"description":
                      "Only 1 is supported: the engine's anti-affinity filter keeps members one per host."}},
                     null=True),
}, ("name", "policy"))}, ("server_group",))

SERVICE_REPORT = _strict({
    "host": _string(1, 255, r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\Z"),
    "url": _string(1, 1024, r"^https?://"),
    "rp_uuid": {"type": "string", "pattern":
                r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z"},
    "availability_zone": _string(1, 255),
}, ("host", "url", "rp_uuid"), description=(
    "What a compute agent reports about itself (a berth extension; Nova's go over RPC)."))

POWER_REPORT = _strict({"servers": {"type": "object", "maxProperties": 4096, "propertyNames": {"maxLength": 36},
                                      "additionalProperties": {"enum": ["running", "shutdown", "crashed"]}}},
                      ("servers",), description=(
    "A compute agent's power states of its servers, read from its runtime (a berth extension)."))

CONSOLE_OUTPUT = _strict({"os-getConsoleOutput": _strict({
    "length": {"type": ["integer", "string", "null"], "pattern": r"^-?[0-9]+\Z", "minimum": -1,
               "description": "The last N lines; -1 or none for all of it."},
})}, ("os-getConsoleOutput",), description="A server action: Nova's os-getConsoleOutput, the only one served.")

SERVICE_UPDATE = _strict({"status": {"type": "string", "enum": ["enabled", "disabled"]}}, ("status",))
