"""Fixtures for the Placement tests: a database URL per backend (SQLite file, PostgreSQL).

`db_url` is parametrised over both backends, so every test taking it runs on SQLite and on
PostgreSQL; the PostgreSQL cluster is started once per session from Debian's binaries.  When
PostgreSQL is not installed those cases are skipped locally -- CI installs it (.ci/run), and
with BERTH_REQUIRE_POSTGRES=1 a missing PostgreSQL is an error, not a skip.
"""

from __future__ import annotations

import os

import pytest

from tests.placement import pg


@pytest.fixture(scope="session")
def pg_cluster():
    if not pg.available():
        if os.environ.get("BERTH_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL binaries not found but BERTH_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL is not installed here")
    cluster = pg.PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'placement.db'}"
    return request.getfixturevalue("pg_cluster").new_database()
