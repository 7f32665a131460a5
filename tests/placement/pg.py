"""A throwaway PostgreSQL cluster for tests: Debian's binaries, a temp dir, a loopback port.

`PgCluster.start()` runs initdb and pg_ctl (as the `postgres` user when the tests run as
root, since PostgreSQL refuses root), listening on 127.0.0.1 only; `new_database()` hands
out a fresh database URL for each test.  `available()` is False when no PostgreSQL is
installed (CI installs it; see .ci/run).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

from tests.placement.live import free_port


def bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


def available() -> bool:
    return bin_dir() is not None


class PgCluster:
    def __init__(self) -> None:
        self.bin = bin_dir()
        self.dir = tempfile.mkdtemp(prefix="berth-pg-")
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "PgCluster":
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = os.path.join(self.dir, "data")
        self._run(f"{self.bin}/initdb", "-D", data, "-A", "trust", "-U", self.user, "--no-sync")
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} " \
               "-c fsync=off -c max_connections=200"
        self._run(f"{self.bin}/pg_ctl", "-D", data, "-o", opts, "-w", "-l", os.path.join(self.dir, "log"), "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg
        name = "t" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(f"{self.bin}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
