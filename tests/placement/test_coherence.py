"""Two API server processes over one database: neither ever answers from a stale index.

Each server keeps its own in-memory candidate index and (on SQLite) trusts it while
`PRAGMA data_version` has not moved.  Here every write goes through one process and the very
next read through the other -- claims (incremental index patches), a new provider (a full
reload), an inventory change -- and each answer must already show the write: the usage in
the provider summaries, the candidate count, and a full provider getting no candidates.
Runs on SQLite and on PostgreSQL (which reads the serial row instead).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from berth.launch.upstream_placement import wait_until_up
from tests.centralised.creds import ADMIN, write_tokens
from tests.placement.live import free_port

HEADERS = {"x-auth-token": ADMIN, "openstack-api-version": "placement 1.39"}
QUERY = "/allocation_candidates?resources=VCPU:1"


def _serve(db_url: str, tokens: Path) -> tuple[subprocess.Popen, httpx.Client]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "berth.centralised.placement", "--port", str(port),
                             "--db", db_url, "--token-file", str(tokens)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_up(f"http://127.0.0.1:{port}", proc)
    return proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=60)


def _claim(http: httpx.Client, rp: str) -> int:
    return http.put(f"/allocations/{uuid.uuid4()}", json={
        "allocations": {rp: {"resources": {"VCPU": 1}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": None, "consumer_type": "INSTANCE"}).status_code


def _used(http: httpx.Client, rp: str) -> int | None:
    """VCPU used on rp as the candidate index reports it (None: rp is not a candidate)."""
    summary = http.get(QUERY).json()["provider_summaries"].get(rp)
    return None if summary is None else summary["resources"]["VCPU"]["used"]


def test_every_write_in_one_process_is_seen_by_the_next_read_in_the_other(db_url, tmp_path):
    tokens = write_tokens(tmp_path)
    servers = [_serve(db_url, tokens), _serve(db_url, tokens)]
    (_pa, a), (_pb, b) = servers
    try:
        rp = a.post("/resource_providers", json={"name": "cn0"}).json()["uuid"]
        a.put(f"/resource_providers/{rp}/inventories", json={
            "resource_provider_generation": 0, "inventories": {"VCPU": {"total": 6}}}).raise_for_status()
        assert _used(b, rp) == 0 and _used(a, rp) == 0  # both indexes warm
        for n in range(1, 7):
            writer, reader = (a, b) if n % 2 else (b, a)
            assert _claim(writer, rp) == 204
            assert _used(reader, rp) == (n if n < 6 else None), f"stale index after claim {n}"
        assert b.get(QUERY).json()["allocation_requests"] == []
        other = b.post("/resource_providers", json={"name": "cn1"}).json()["uuid"]
        b.put(f"/resource_providers/{other}/inventories", json={
            "resource_provider_generation": 0, "inventories": {"VCPU": {"total": 2}}}).raise_for_status()
        assert [list(r["allocations"]) for r in a.get(QUERY).json()["allocation_requests"]] == [[other]]
        gen = a.get(f"/resource_providers/{rp}").json()["generation"]
        a.put(f"/resource_providers/{rp}/inventories/VCPU", json={
            "resource_provider_generation": gen, "total": 8}).raise_for_status()
        assert _used(b, rp) == 6, "stale index after an inventory change"
    finally:
        for proc, http in servers:
            http.close()
            proc.terminate()
            proc.wait(timeout=30)
