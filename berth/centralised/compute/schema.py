"""The compute plane's SQL tables (SQLAlchemy Core), one `version` column per mutable row.

Every change to a row is a compare-and-swap on `version` (see `compute.db.Repo`).  Tables:
`flavors`, `server_groups`, `servers`, `services` (one row per compute agent: host, URL,
resource provider, zone, heartbeat).  A server embeds a copy of its flavor, as Nova's do.
JSON columns hold small lists and maps (extra specs, fault, tried hosts).  Imported by
`compute.db` only.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, MetaData, String, Table

metadata = MetaData()

flavors = Table(
    "flavors", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("vcpus", Integer, nullable=False),
    Column("ram", Integer, nullable=False),
    Column("disk", Integer, nullable=False, default=0),
    Column("extra_specs", JSON, nullable=False, default=dict),
    Column("version", Integer, nullable=False, default=1),
)

server_groups = Table(
    "server_groups", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("policy", String(32), nullable=False),
    Column("rules", JSON, nullable=False, default=dict),
    Column("project_id", String(255), nullable=False),
    Column("version", Integer, nullable=False, default=1),
)

servers = Table(
    "servers", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("project_id", String(255), nullable=False),
    Column("user_id", String(255), nullable=False),
    Column("flavor", JSON, nullable=False),
    Column("group_id", String(36), nullable=True, index=True),
    Column("availability_zone", String(255), nullable=True),
    Column("command", JSON, nullable=False, default=list),
    Column("status", String(16), nullable=False),
    Column("task_state", String(16), nullable=True, index=True),
    Column("host", String(255), nullable=True),
    Column("node", String(36), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("tried_hosts", JSON, nullable=False, default=list),
    Column("fault", JSON, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=False, default=0.0),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
)

services = Table(
    "services", metadata,
    Column("host", String(255), primary_key=True),
    Column("url", String(1024), nullable=False),
    Column("rp_uuid", String(36), nullable=False),
    Column("availability_zone", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("last_seen", Float, nullable=False),
    Column("version", Integer, nullable=False, default=1),
)
