"""`berth bench runtime --runtime vm` at a tiny scale: 2 guests of bare QEMU beside 2 servers through the
centralised plane, every figure present and positive.  QEMU missing fails (`.ci/run` installs it)."""

import json
import subprocess
import sys

from tests.conftest import require_program


def test_two_servers_beside_two_bare_guests():
    require_program("qemu-system-x86_64", "apt-get install qemu-system-x86")
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "bench", "runtime", "--runtime", "vm",
                          "--count", "2", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert (result["runtime"], result["pods"], result["agents"]) == ("vm", 2, 2)
    for side, name in (("bare", "qemu"), ("berth", "berth")):
        figures = result[side]
        assert figures["name"] == name and figures["pods"] == 2 and figures["failed"] == 0
        assert all(figures[k] > 0 for k in ("p50_s", "p99_s", "max_s", "wall_s")), figures
        assert figures["p50_s"] <= figures["p99_s"] <= figures["max_s"] <= figures["wall_s"]
    assert isinstance(result["overhead_p50"], float)
