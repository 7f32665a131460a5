"""SQL schema of the Placement database (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Tables hold providers (a tree through `parent_id`/`root_id`), inventories, consumers and
their allocations, traits, aggregates and resource classes.  `state` is a one-row counter
bumped by every write transaction together with rows in `changes` naming the providers it
touched: the row lock orders writers, so change serials commit in order and the in-memory
candidate index (`berth.centralised.placement.index`) can catch up incrementally.
Used by `berth.centralised.placement.db` and the handlers' SQL.
"""

from __future__ import annotations

from sqlalchemy import (BigInteger, Column, DateTime, Float, ForeignKey, Integer, MetaData, String,
                        Table, UniqueConstraint, Index)

metadata = MetaData()


def _stamps() -> list[Column]:
    return [Column("created_at", DateTime), Column("updated_at", DateTime)]


providers = Table(
    "resource_providers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("generation", Integer, nullable=False, default=0),
    Column("parent_id", Integer, ForeignKey("resource_providers.id"), nullable=True, index=True),
    Column("root_id", Integer, nullable=True, index=True),
    *_stamps(),
    sqlite_autoincrement=True,
)

resource_classes = Table(
    "resource_classes", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    *_stamps(),
)

inventories = Table(
    "inventories", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, ForeignKey("resource_providers.id"), nullable=False),
    Column("rc_id", Integer, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    Column("min_unit", BigInteger, nullable=False),
    Column("max_unit", BigInteger, nullable=False),
    Column("step_size", BigInteger, nullable=False),
    Column("allocation_ratio", Float, nullable=False),
    *_stamps(),
    UniqueConstraint("provider_id", "rc_id", name="uniq_inventory"),
)

consumer_types = Table(
    "consumer_types", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    *_stamps(),
)

consumers = Table(
    "consumers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("project_id", String(255), nullable=False, index=True),
    Column("user_id", String(255), nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("type_id", Integer, nullable=True),
    *_stamps(),
)

allocations = Table(
    "allocations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider_id", Integer, nullable=False, index=True),
    Column("consumer_id", Integer, nullable=False, index=True),
    Column("rc_id", Integer, nullable=False),
    Column("used", BigInteger, nullable=False),
    *_stamps(),
)

traits = Table(
    "traits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    *_stamps(),
)

provider_traits = Table(
    "provider_traits", metadata,
    Column("provider_id", Integer, primary_key=True),
    Column("trait_id", Integer, primary_key=True),
    Index("ix_provider_traits_trait", "trait_id"),
)

aggregates = Table(
    "aggregates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uuid", String(36), nullable=False, unique=True),
)

provider_aggregates = Table(
    "provider_aggregates", metadata,
    Column("provider_id", Integer, primary_key=True),
    Column("aggregate_id", Integer, primary_key=True),
    Index("ix_provider_aggregates_agg", "aggregate_id"),
)

state = Table(
    "placement_state", metadata,
    Column("id", Integer, primary_key=True),
    Column("serial", BigInteger, nullable=False),
)

changes = Table(
    "placement_changes", metadata,
    Column("serial", BigInteger, nullable=False, index=True),
    Column("provider_id", Integer, nullable=True),
    Column("kind", String(16), nullable=False),
    Column("id", Integer, primary_key=True, autoincrement=True),
)
