"""Real OpenStack clients against a live berth Placement server on a loopback port.

The `openstack` CLI with the osc-placement plugin (a token and an endpoint via admin_token, as
osc-placement's own functional tests do; the token is the admin's of `tests.centralised.creds`,
passed in OS_TOKEN rather than on the command line) creates providers, sets inventory, traits,
aggregates and allocations, lists allocation candidates and shows usages; openstacksdk's
placement proxy does what it covers (providers, inventories, traits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.centralised.creds import ADMIN
from tests.placement.live import LiveServer

# The `openstack` script installed with the interpreter running the tests (no PATH lookup).
OPENSTACK = Path(sys.executable).parent / "openstack"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(f"sqlite:///{tmp_path_factory.mktemp('osc') / 'placement.db'}").start()
    yield live
    live.stop()


def osc(server, *args: str):  # noqa: ANN001, ANN201
    assert OPENSTACK.exists(), f"{OPENSTACK}: python-openstackclient is a test dependency (pip install -e '.[test]')"
    cmd = [str(OPENSTACK), "--os-auth-type", "admin_token", "--os-endpoint", server.url, *args, "-f", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "OS_TOKEN": ADMIN})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_osc_placement_timeline(server):
    rp = osc(server, "resource provider", "create", "cn1")["uuid"]
    osc(server, "resource provider", "create", "numa0", "--parent-provider", rp)
    inv = osc(server, "resource provider", "inventory", "set", rp, "--resource", "VCPU=8",
              "--resource", "VCPU:allocation_ratio=2", "--resource", "MEMORY_MB=4096")
    assert {i["resource_class"]: i["total"] for i in inv} == {"VCPU": 8, "MEMORY_MB": 4096}
    osc(server, "resource provider", "trait", "set", rp, "--trait", "HW_CPU_X86_AVX2")
    agg = str(uuid.uuid4())
    osc(server, "resource provider", "aggregate", "set", rp, "--aggregate", agg, "--generation", "2")
    cands = osc(server, "allocation", "candidate", "list", "--resource", "VCPU=2", "--required", "HW_CPU_X86_AVX2",
                "--aggregate-uuid", agg)
    assert [c["resource provider"] for c in cands] == [rp]
    assert cands[0]["inventory used/capacity"] == "VCPU=0/16,MEMORY_MB=0/4096"
    consumer = str(uuid.uuid4())
    osc(server, "resource provider", "allocation", "set", consumer, "--allocation", f"rp={rp},VCPU=3",
        "--project-id", "p", "--user-id", "u")
    usage = osc(server, "resource provider", "usage", "show", rp)
    assert {u["resource_class"]: u["usage"] for u in usage} == {"VCPU": 3, "MEMORY_MB": 0}
    tree = osc(server, "resource provider", "list", "--in-tree", rp)
    assert sorted(p["name"] for p in tree) == ["cn1", "numa0"]


def test_openstacksdk_placement_proxy(server):
    import openstack
    conn = openstack.connection.Connection(auth_type="admin_token",
                                           auth={"endpoint": server.url, "token": ADMIN})
    rp = conn.placement.create_resource_provider(name="sdk-node")
    conn.placement.create_resource_provider_inventory(rp, resource_class="DISK_GB", total=100)
    invs = list(conn.placement.resource_provider_inventories(rp))
    assert [(i.resource_class, i.total) for i in invs] == [("DISK_GB", 100)]
    assert conn.placement.get_resource_provider(rp.id).generation == 1
    assert "HW_CPU_X86_AVX2" in {t.name for t in conn.placement.traits()}
