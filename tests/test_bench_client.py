"""`berth bench client` as a user runs it, tiny: the JSON's shape, and that both clients got right answers."""

import json
import subprocess
import sys

KINDS = {"get", "create", "patch_status", "all"}


def test_bench_client_json_reports_both_clients_and_checks_their_answers():
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "bench", "client", "--calls", "50", "--rounds", "1",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (result["calls"], result["rounds"]) == (50, 1)
    for figures in ("wall_us", "cpu_us"):
        assert set(result[figures]) == {"wire", "httpx"}
        for client in ("wire", "httpx"):
            assert set(result[figures][client]) == KINDS
            assert all(v > 0 for v in result[figures][client].values())
    assert set(result["ratio"]) == {"wall", "cpu"} and all(set(r) == KINDS for r in result["ratio"].values())
    for client in ("wire", "httpx"):
        assert result["checks"][client] == {"answers": 150, "correct": 150, "created": 50, "listed": 50}
        assert len(result["samples"][client]) == 1
        assert set(result["samples"][client][0]) == KINDS - {"all"}
