"""`berth bench runtime`: its percentiles and overhead figure, and the runtimes it refuses."""

import subprocess
import sys

from berth.sim.runtimebench import RuntimeBench, Side


def test_percentiles_and_overhead_at_p50():
    bare = Side("podman", [float(x) for x in range(1, 101)], 10.0)
    berth = Side("berth", [1.1 * x for x in range(1, 101)], 11.0)
    assert (bare.percentile(0.5), bare.percentile(0.99)) == (50.0, 99.0)
    result = RuntimeBench("container", 100, 2, bare, berth)
    assert abs(result.overhead_p50 - 0.1) < 1e-9
    out = result.as_dict()
    assert out["bare"]["p50_s"] == 50.0 and out["berth"]["p99_s"] == 108.9 and out["overhead_p50"] == 0.1


def test_an_unmeasured_runtime_is_refused_in_one_line():
    out = subprocess.run([sys.executable, "-m", "berth.cli.main", "bench", "runtime", "--runtime", "process"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--runtime" in out.stderr and len(out.stderr.strip().splitlines()) == 1
