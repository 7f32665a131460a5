"""The CLI of the declarative plane: the example scheduler configuration, bad input, a small benchmark."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kube_objects import node_obj, pod_obj

from berth.declarative.scheduler import load_config
from berth.declarative.scheduler.cache import ClusterState
from berth.declarative.scheduler.convert import node_from_object
from berth.declarative.scheduler.framework import decide

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def berth(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "berth.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_example_config_packs_by_default_and_spreads_on_request():
    profiles = load_config(EXAMPLES / "scheduler-binpack.yaml")
    assert [p.scheduler_name for p in profiles] == ["default-scheduler", "spread"]
    state = ClusterState(profiles, seed=1)
    for n in (node_obj("a", cpu="4"), node_obj("b", cpu="4")):
        state.set_node(node_from_object(n))
    assert decide(state, pod_obj("first", cpu="1")).outcome == "bind"
    packed = state.ledger["default/first"].node
    assert decide(state, pod_obj("second", cpu="1")).node == packed, "MostAllocated packs"
    assert decide(state, pod_obj("third", cpu="1", schedulerName="spread")).node != packed, "LeastAllocated spreads"


def test_bad_scheduler_config_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"
                   "profiles:\n- plugins:\n    score:\n      enabled:\n      - name: Nope\n")
    out = berth("up", "--scheduler-config", str(bad), "--state-dir", str(tmp_path / "s"))
    assert out.returncode == 2 and "bad.yaml" in out.stderr and "Nope" in out.stderr


def test_unknown_runtime_is_rejected():
    out = berth("up", "--runtime", "docker")
    assert out.returncode == 2 and "--runtime" in out.stderr


def test_small_declarative_benchmark_reports_json():
    out = berth("bench", "declarative", "--nodes", "50", "--pods", "200", "--init-pods", "0", "--store", "memory",
                "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    run = result["runs"][0]
    assert run["bound"] == 200 and result["pods_per_s"] > 0 and 0 < result["p50_ms"] <= result["p99_ms"]
    assert set(run["cpu_ms_per_pod"]) == {"apiserver", "scheduler", "bench", "creators"}
    assert result["backlog_pods_per_s"] > 0
