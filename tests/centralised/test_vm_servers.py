"""Servers as QEMU guests, end to end: the plane `berth up --plane centralised --runtime vm` starts.

One agent on the vm runtime (KVM or TCG, as the machine's cached probe says); a server boots with
the flavor's vCPUs and RAM, its console log shows the guest's init (from the agent, and through the compute
API's os-getConsoleOutput), a guest that powers itself off
shows SHUTOFF within the agent's sync, and deleting a server leaves no QEMU.  qemu-system-x86_64
missing fails the test (`.ci/run` installs qemu-system-x86).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from berth.launch.centralised import CentralisedPlane, PlaneSpec
from tests.conftest import require_program


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    require_program("qemu-system-x86_64", "apt-get install qemu-system-x86")
    from berth.launch import vmimages
    vmimages.seed()
    spec = PlaneSpec(agents=1, state_dir=str(tmp_path_factory.mktemp("vmplane")), runtime="vm", port=0,
                     agent_vcpus=4, agent_ram=4096, heartbeat=1.0)
    plane = CentralisedPlane(spec).start()
    yield plane
    plane.stop()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(what)


def qemu_of(server_id: str) -> list[int]:
    """Pids of QEMU processes running this server's guest (its run directory is named by the id)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and any(server_id[:32].encode() in a for a in argv):
            found.append(int(proc.name))
    return found


def test_guests_boot_report_their_power_state_and_stop_when_deleted(plane):
    assert plane.runtime_note() in ("vm (QEMU, kvm)", "vm (QEMU, tcg)")
    api = httpx.Client(base_url=plane.compute_url, timeout=30, headers={"X-Auth-Token": plane.token("admin")})
    agent = httpx.Client(base_url=plane.endpoints()["cmp-000"], timeout=30,
                         headers={"X-Auth-Token": plane.token("conductor")})
    api.post("/flavors", json={"flavor": {"id": "g2", "name": "g2", "vcpus": 2, "ram": 192, "disk": 1}})
    short = api.post("/servers", json={"server": {"name": "short", "flavorRef": "g2",
                                                  "command": ["sh", "-c", "echo guest says hi; sleep 4"]}})
    long = api.post("/servers", json={"server": {"name": "long", "flavorRef": "g2",
                                                 "command": ["sh", "-c", "echo up; sleep 600"]}})
    short_id, long_id = short.json()["server"]["id"], long.json()["server"]["id"]
    status = lambda ident: api.get(f"/servers/{ident}").json()["server"]["status"]  # noqa: E731
    wait_for(lambda: status(long_id) == "ACTIVE", 60, "the long server never became ACTIVE")
    pids = wait_for(lambda: qemu_of(long_id), 30, "no QEMU for the long server")
    argv = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
    assert argv[argv.index(b"-smp") + 1] == b"2" and argv[argv.index(b"-m") + 1] == b"192", "the flavor's size"

    wait_for(lambda: status(short_id) == "SHUTOFF", 90, "the guest that powered off never showed SHUTOFF")
    console = agent.get(f"/servers/{short_id}/console").json()["output"]
    assert "berth-guest: started" in console and "guest says hi" in console and "berth-guest: exit 0" in console
    nova = api.post(f"/servers/{short_id}/action", json={"os-getConsoleOutput": {"length": 3}})
    assert nova.status_code == 200 and "berth-guest: exit 0" in nova.json()["output"], "Nova's console output"
    assert len(nova.json()["output"].splitlines()) <= 3
    full = api.post(f"/servers/{short_id}/action", json={"os-getConsoleOutput": {}}).json()["output"]
    assert "berth-guest: started" in full and "guest says hi" in full
    assert status(long_id) == "ACTIVE"

    assert api.delete(f"/servers/{long_id}").status_code == 204
    wait_for(lambda: api.get(f"/servers/{long_id}").status_code == 404, 30, "the long server was never deleted")
    wait_for(lambda: not qemu_of(long_id), 10, "QEMU still runs after the server was deleted")
