"""`berth experiment fgd --bound --batch K` end to end on a tiny trace, and the batch-mode curve."""

import json

import numpy as np
from typer.testing import CliRunner

from berth.cli.main import app
from berth.sim.batchmode import batch_curve, recorded_curve
from berth.sim.bound import bound_curve
from tests.conftest import pod


def _tiny_trace(tmp_path):
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\n" + "".join(
        f"node-{i},{16000 if i % 2 else 32000},65536,{2 if i % 2 else 4},{'T4' if i % 2 else 'G2'}\n"
        for i in range(6)))
    rng = np.random.default_rng(5)
    rows = []
    for i in range(40):
        num, milli = [(1, 470), (1, 810), (1, 1000), (2, 1000), (0, 0), (1, 320)][int(rng.integers(6))]
        rows.append(f"pod-{i},{int(rng.integers(1, 8)) * 1000},{int(rng.integers(1, 9)) * 1024},{num},{milli},\n")
    pods = tmp_path / "openb_pod_list_tiny.csv"
    pods.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n" + "".join(rows))
    return nodes, pods


def test_recorded_curve_counts_only_arrived_pods():
    arrivals = [pod(f"p{i}", gpu=500) for i in range(4)]
    curve = recorded_curve(arrivals, np.array([True, False, True, True]), capacity=1000)
    assert curve[50] == 50.0          # level 50 reached after p0: p0 placed
    assert curve[100] == 50.0         # after p1 (not placed)
    assert curve[130] == 100.0        # level 130 is reached with p2: p0 and p2 placed


def test_batch_mode_stays_under_the_bound(tmp_path):
    nodes, pods = _tiny_trace(tmp_path)
    run = batch_curve(str(pods), 1, 10, nodes=nodes, time_limit=1.0)
    bound = bound_curve(str(pods), 1, nodes=nodes).bound
    assert run.policy == "batch-10" and run.placed > 0
    assert np.all(run.curve <= bound + 1e-9)


def test_cli_bound_and_batch(tmp_path):
    nodes, pods = _tiny_trace(tmp_path)
    result = CliRunner().invoke(app, ["experiment", "fgd", "--trace", str(pods), "--nodes", str(nodes),
                                      "--policy", "fgd,best-fit", "--seeds", "2", "--first-seed", "1",
                                      "--workers", "1", "--bound", "--batch", "10", "--json",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["policies"] == ["fgd", "best-fit", "batch-10"]
    assert set(data["bound"]["gap_pp"]) == {"fgd", "best-fit", "batch-10"}
    assert data["bound"]["violations"] == []
    assert all(v >= -1e-9 for per in data["bound"]["gap_pp"].values() for v in per.values())
    assert (tmp_path / "out" / "fgd-openb_pod_list_tiny.png").exists() or list((tmp_path / "out").glob("*.png"))
