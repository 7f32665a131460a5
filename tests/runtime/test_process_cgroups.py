"""Process units in cgroups: limits enforced by the kernel, OOM kills reported, usage read, cgroups cleaned up.

These need what `.ci/run`'s machines have (root, cgroup v1 with memory, cpu, cpuacct and pids, or
v2 with them delegated): `ProcessRuntime(cgroups=True)` fails the test where they are missing.
The limits table and the fallback are tested without them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from berth.runtime import ManualClock, ProcessRuntime, UnitResources, UnitSpec, UnitState
from berth.runtime.cgroups import V1, V2, Hierarchy, limits

PY = sys.executable
MI = 2**20


@pytest.fixture
def rt(tmp_path):
    runtime = ProcessRuntime(tmp_path / "logs", clock=ManualClock(), backoff=5.0, max_backoff=20.0, cgroups=True)
    yield runtime
    runtime.close()


def settle(rt, name, ok, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rt.sync()
        if ok(rt.status(name)):
            return rt.status(name)
        time.sleep(0.02)
    raise AssertionError(f"{name} stayed {rt.status(name)}")


def test_over_its_memory_limit_a_unit_is_oom_killed_and_restarted(rt):
    hog = (PY, "-c", "b = b'x' * (500 * 2**20); print('survived', len(b))")
    limited = UnitResources(memory_limit_bytes=50 * MI)
    rt.start(UnitSpec("hog", hog, restart="on-failure", resources=limited))
    first = settle(rt, "hog", lambda s: s.state is UnitState.WAITING)
    assert (first.exit_code, first.reason, first.restarts) == (137, "CrashLoopBackOff", 0)
    assert "OOMKilled" in first.message
    rt.clock.advance(5.1)
    rt.sync()
    assert rt.status("hog").restarts == 1
    second = settle(rt, "hog", lambda s: s.state is UnitState.WAITING and s.finished_at > first.finished_at)
    assert (second.exit_code, second.restarts) == (137, 1) and "OOMKilled" in second.message
    rt.start(UnitSpec("once", hog, restart="never", resources=limited))
    final = settle(rt, "once", lambda s: s.state.terminal)
    assert (final.state, final.exit_code, final.reason) == (UnitState.FAILED, 137, "OOMKilled")
    assert b"survived" not in rt.logs("once")


def test_a_unit_under_its_memory_limit_is_not_oom_killed(rt):
    rt.start(UnitSpec("fits", (PY, "-c", "b = b'x' * (20 * 2**20)"), restart="never",
                      resources=UnitResources(memory_limit_bytes=200 * MI)))
    final = settle(rt, "fits", lambda s: s.state.terminal)
    assert (final.state, final.exit_code, final.reason) == (UnitState.SUCCEEDED, 0, "Completed")


def test_a_200m_cpu_limit_holds_a_busy_loop_to_a_fifth_of_a_core(rt):
    rt.start(UnitSpec("spin", (PY, "-c", "while True: pass"),
                      resources=UnitResources(cpu_request_millis=200, cpu_limit_millis=200)))
    settle(rt, "spin", lambda s: s.state is UnitState.RUNNING)
    time.sleep(0.5)
    before, t0 = rt.usage("spin").cpu_seconds, time.monotonic()
    time.sleep(3.0)
    used, wall = rt.usage("spin").cpu_seconds - before, time.monotonic() - t0
    share = used / wall
    print(f"busy loop under a 200m limit: {used:.3f} CPU s in {wall:.2f} s = {share:.1%} of a core")
    assert 0.10 < share <= 0.25
    group = rt._units["spin"].cgroup
    cpu_dir = group.dirs.get("cpu") or group.dirs[""]
    if group.version is V1:
        assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "20000"
        assert (cpu_dir / "cpu.shares").read_text().strip() == "204"
    else:
        assert (cpu_dir / "cpu.max").read_text().split() == ["20000", "100000"]


def test_the_program_starts_inside_its_cgroup(rt):
    rt.start(UnitSpec("where", ("cat", "/proc/self/cgroup"), restart="never"))
    settle(rt, "where", lambda s: s.state.terminal)
    group = rt._units["where"].cgroup
    memory = group.dirs.get("memory") or group.dirs[""]
    lines = rt.logs("where").decode().splitlines()
    tail = "/".join(memory.parts[-3:])  # berth/<runtime id>/<unit>
    [mine] = [line for line in lines if line.split(":")[1] == ("memory" if group.version is V1 else "")]
    assert mine.endswith(tail), lines


def test_exec_runs_in_the_units_cgroup(rt):
    rt.start(UnitSpec("svc", ("sleep", "60")))
    settle(rt, "svc", lambda s: s.state is UnitState.RUNNING)
    out = rt.exec("svc", ("cat", "/proc/self/cgroup"))
    unit_dir = next(iter(rt._units["svc"].cgroup.dirs.values()))
    assert out.exit_code == 0 and f"/{unit_dir.parent.name}/{unit_dir.name}\n" in out.output.decode()


def test_escaped_descendants_are_killed_when_the_unit_ends(rt, tmp_path):
    pidfile = tmp_path / "escaped"
    rt.start(UnitSpec("leaky", ("sh", "-c", f"setsid sleep 60 & echo $! > {pidfile}; sleep 0.2; exit 1"),
                      restart="never"))
    settle(rt, "leaky", lambda s: s.state.terminal)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the escaped sleep survived its unit"
        time.sleep(0.02)


def test_cgroups_are_removed_on_remove_and_close(tmp_path):
    rt = ProcessRuntime(tmp_path / "logs", cgroups=True)
    rt.start(UnitSpec("a", ("sleep", "60"), resources=UnitResources(memory_limit_bytes=64 * MI)))
    rt.start(UnitSpec("b", ("sleep", "60")))
    a_dirs = list(rt._units["a"].cgroup.dirs.values())
    own = list(rt.cgroups.dirs.values())
    assert all(d.is_dir() for d in a_dirs + own)
    rt.remove("a")
    assert not any(d.exists() for d in a_dirs)
    rt.close()
    assert not any(d.exists() for d in own)


def test_limits_table():
    res = UnitResources(cpu_request_millis=250, cpu_limit_millis=500, memory_limit_bytes=64 * MI)
    v1 = {(c, f): v for c, f, v, _ in limits(V1, res, 100)}
    assert v1 == {("memory", "memory.limit_in_bytes"): str(64 * MI), ("memory", "memory.memsw.limit_in_bytes"):
                  str(64 * MI), ("cpu", "cpu.cfs_period_us"): "100000", ("cpu", "cpu.cfs_quota_us"): "50000",
                  ("cpu", "cpu.shares"): "256", ("pids", "pids.max"): "100"}
    v2 = {f: v for _, f, v, _ in limits(V2, res, None)}
    assert v2 == {"memory.max": str(64 * MI), "memory.swap.max": "0", "cpu.max": "50000 100000", "cpu.weight": "10"}
    assert limits(V1, UnitResources(), None) == []


def test_without_cgroups_units_run_and_usage_comes_from_proc(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "mountinfo").write_text("22 1 0:20 / /proc rw - proc proc rw\n")
    (proc / "cgroup").write_text("0::/\n")
    assert Hierarchy.detect("x", proc=proc) is None
    rt = ProcessRuntime(tmp_path / "logs", cgroups=False)
    try:
        rt.start(UnitSpec("plain", ("sleep", "60"), resources=UnitResources(memory_limit_bytes=MI)))
        assert rt.cgroups is None and rt._units["plain"].cgroup is None
        assert rt.usage("plain").memory_bytes > 0
        assert rt.start(UnitSpec("ghost", ("/nonexistent/x",))).reason == "StartError"
    finally:
        rt.close()
    assert not os.path.exists(rt.log_dir) or rt.log_dir == tmp_path / "logs"


def test_a_pids_limit_caps_forks(tmp_path):
    rt = ProcessRuntime(tmp_path / "logs", cgroups=True, pids_limit=4)
    try:
        script = ("import subprocess\nkids = []\nfor _ in range(8):\n    try:\n"
                  "        kids.append(subprocess.Popen(['sleep', '5']))\n    except OSError:\n        pass\n"
                  "print(len(kids), flush=True)\nfor k in kids: k.kill()\n")
        rt.start(UnitSpec("forky", (PY, "-c", script), restart="never"))
        settle(rt, "forky", lambda s: s.state.terminal)
        assert rt.logs("forky") == b"3\n"  # the unit itself and 3 children make 4
    finally:
        rt.close()


def test_v2_layout_on_a_simulated_tree(tmp_path):
    """cgroup v2 where this machine has v1: a directory tree stands in for the unified mount."""
    root, proc = tmp_path / "cg", tmp_path / "proc"
    root.mkdir(), proc.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (proc / "mountinfo").write_text(f"41 31 0:38 / {root} rw,relatime - cgroup2 cgroup2 rw\n")
    (proc / "cgroup").write_text("0::/\n")
    tree = Hierarchy.detect("7.0", proc=proc)
    assert tree is not None and tree.version is V2 and tree.dirs == {"": root / "berth" / "7.0"}
    assert (root / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    unit = tree.unit("u", UnitResources(cpu_limit_millis=200, memory_limit_bytes=50 * MI), pids_limit=10)
    assert {f: (root / "berth" / "7.0" / "u" / f).read_text() for f in ("memory.max", "cpu.max", "pids.max")} == \
        {"memory.max": str(50 * MI), "cpu.max": "20000 100000", "pids.max": "10"}
    assert unit.join_argv(("true",))[-3:] == ["1", str(root / "berth" / "7.0" / "u" / "cgroup.procs"), "true"]
    (unit.dirs[""] / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert unit.oom_kills() == 1
