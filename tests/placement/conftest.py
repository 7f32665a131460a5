"""Fixtures for the Placement tests: a database URL per backend (SQLite file, PostgreSQL).

`db_url` is parametrised over both backends, so every test taking it runs on SQLite and on
PostgreSQL; the PostgreSQL cluster is started once per session from Debian's binaries.  A
missing PostgreSQL fails those cases (it is a test dependency: Debian's `postgresql`, which this
machine kind has and `.ci/run` installs where it is absent); it never skips them.
"""

from __future__ import annotations

import pytest

from tests.placement import pg


@pytest.fixture(scope="session")
def pg_cluster():
    if not pg.available():
        pytest.fail("PostgreSQL is a test dependency and its binaries are not installed: "
                    "apt-get install postgresql (.ci/run does)", pytrace=False)
    cluster = pg.PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'placement.db'}"
    return request.getfixturevalue("pg_cluster").new_database()
