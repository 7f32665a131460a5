"""`berth bench optimal` at a tiny size, as a user runs it: the small scenario on trace nodes
reports proof status, bounds and CPU time per batch (the speed itself is the benchmark's job)."""

import json
import subprocess
import sys


def test_bench_optimal_small_scenario_json(data_dir):
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "bench", "optimal", "--sizes", "8", "--seeds", "2",
                          "--nodes", "3", "--large", "0", "--no-saturated", "--time-limit", "20", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cases = json.loads(out.stdout)
    assert [c["seed"] for c in cases] == [1, 2]
    for c in cases:
        assert c["scenario"] == "small" and c["pods"] == 8 and c["nodes"] == 3
        assert c["weight"] <= c["bound"] and c["weight"] >= c["heuristic_weight"]
        assert c["cpu_seconds"] > 0
        if c["status"] == "optimal":
            assert c["gap"] == 0 and c["secondary_bound"] == c["secondary"]
