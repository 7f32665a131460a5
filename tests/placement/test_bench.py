"""The side-by-side benchmark's machinery at a tiny size: both servers get the same data,
return the same candidate counts, and neither over-allocates under racing claims.

(Speed targets are measured by `berth bench placement`, not asserted here.)
"""

from __future__ import annotations

from berth.sim.placement_bench import bench_placement


def test_tiny_side_by_side_run_agrees_and_never_over_allocates():
    result = bench_placement([30], repeat=1, claims=40, threads=4)
    assert [q.candidates for q in result.queries] == [5, 30, 30]
    c = result.claims
    assert c.upstream_over_allocated == 0 and c.berth_over_allocated == 0
    assert c.berth_won == 40 and c.berth_errors == 0
    assert result.to_dict()["claims"]["ratio"] > 0
