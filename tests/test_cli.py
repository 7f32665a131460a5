"""The `berth` command as a user runs it: real subprocesses, exit codes, JSON and files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest


def berth(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_policies_json_lists_all_named_policies():
    out = berth("policies", "--json")
    assert out.returncode == 0
    names = set(json.loads(out.stdout))
    assert {"kube-default", "nova-default", "most-allocated", "random", "dot-product", "gpu-clustering",
            "gpu-packing", "best-fit", "fgd"} <= names


@pytest.mark.parametrize("args, message", [
    (["place", "--request", "cpu=1,fpga=1"], "workload.requests.fpga: unknown resource"),
    (["place", "--request", "cpu=1", "--policy", "nope"], "unknown policy 'nope'"),
    (["experiment", "fgd", "--trace", "nosuch"], "unknown trace 'nosuch'"),
    (["bench", "trace", "--seeds", "4x"], "--seeds: must be comma-separated integers, got '4x'"),
    (["bench", "trace", "--policy", "nope"], "unknown policy 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    out = berth(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# The console script installed with the interpreter running the tests, as a user runs it.
BERTH = Path(sys.executable).parent / "berth"


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "error: No such command 'nosuch'."),
    (["up", "--nodes", "0"], "error: Invalid value for '--nodes': "),
    (["bench", "engine", "--nodes", "x"], "error: Invalid value for '--nodes': "),
])
def test_usage_error_from_the_console_script_is_one_line_and_exit_2(args, message):
    assert BERTH.exists(), f"{BERTH}: the berth console script is not installed with {sys.executable}"
    out = subprocess.run([str(BERTH), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(message) and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stdout == ""


def test_negative_capacity_in_a_node_list_is_one_line_and_exit_2(tmp_path):
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,1000,100,1,T4\nn2,-5,100,0,\n")
    out = berth("place", "--request", "cpu=1", "--nodes", str(nodes))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {nodes}:3: cpu_milli: must be at least 0, got -5"


def test_place_reports_the_node_or_the_reasons(data_dir):
    ok = json.loads(berth("place", "--request", "cpu=1000,memory=1024,gpu=500", "--policy", "fgd", "--json").stdout)
    assert ok["ok"] and ok["node"].startswith("openb-node-") and len(ok["devices"]) == 1
    no = berth("place", "--request", "cpu=999999999", "--json")
    assert no.returncode == 0 and json.loads(no.stdout)["message"] == "0/1213 nodes are available: 1213 Insufficient cpu."


def test_bench_engine_json_reports_rates_and_latencies():
    out = berth("bench", "engine", "--nodes", "300", "--pods", "600", "--init-pods", "10", "--repeat", "2", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["decisions_per_s"] > 0 and result["p99_us"] >= result["p50_us"] > 0
    assert len(result["runs"]) == 2 and all(r["placed"] == 600 for r in result["runs"])


def test_bench_trace_times_every_arrival_of_the_experiment(data_dir):
    from berth.sim.trace import load_pods, pod_trace_path
    from berth.sim.workload import prepare_arrivals

    out = berth("bench", "trace", "--policy", "best-fit", "--seeds", "42", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    (run,) = result["runs"]
    arrivals = prepare_arrivals(load_pods(pod_trace_path("default")), 42, 1.3, 6212 * 1000)
    assert (run["seed"], run["nodes"], run["decisions"]) == (42, 1213, len(arrivals))
    assert run["cpu_max_us"] >= run["cpu_p99_us"] >= run["cpu_p50_us"] > 0
    assert run["wall_max_us"] >= run["wall_p99_us"] >= run["wall_p50_us"] > 0
    assert result["cpu_p99_us"] == run["cpu_p99_us"]
    assert (result["wall_max_us"], result["cpu_max_us"]) == (run["wall_max_us"], run["cpu_max_us"])


def test_experiment_writes_csv_and_plot(tmp_path, data_dir):
    out = berth("experiment", "fgd", "--policy", "best-fit", "--seeds", "1", "--out", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert {r["level"] for r in summary["summary"]} == {50, 90, 100, 130}
    assert (tmp_path / "fgd-default.png").stat().st_size > 10_000
    lines = (tmp_path / "fgd-default.csv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("default,best-fit,42,")
