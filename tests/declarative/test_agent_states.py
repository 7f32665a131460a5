"""The node agent reports what the runtime reports, in the kubelet's words: container states and reasons,
the pod phase (Pending, never Failed, while an image cannot be pulled), lastState after an OOM kill,
podIP, Events; and containers become units with their image, group, resources and volumes."""

from __future__ import annotations

import stat
from dataclasses import replace

from kube_objects import pod_obj

from berth.declarative.agent.node import NodeAgent, machine_capacity
from berth.declarative.agent.units import unit_specs
from berth.runtime import FakeRuntime, ManualClock, ProcessRuntime, UnitResources, UnitState, UnitStatus

T0 = 1_700_000_000.0
MiB = 2**20


class ScriptedRuntime:
    """A runtime whose units are what the test says they are (an image runtime's reasons, addresses)."""

    name = "container"

    def __init__(self) -> None:
        self.units: dict[str, UnitStatus] = {}
        self.specs, self.changed, self.stopped = {}, set(), []

    def start(self, spec):
        self.specs[spec.name] = spec
        self.set(spec.name, UnitState.WAITING, reason="ContainerCreating")
        return self.units[spec.name]

    def set(self, name, state, **fields):
        old = self.units.get(name) or UnitStatus(name, state)
        self.units[name] = replace(old, state=state, **fields)
        self.changed.add(name)

    def sync(self):
        out = [self.units[n] for n in self.changed]
        self.changed.clear()
        return out

    def stop(self, name, grace):
        self.stopped.append((name, grace))
        self.set(name, UnitState.STOPPED, exit_code=143, reason="Error")

    def remove(self, name):
        self.units.pop(name, None)

    def status(self, name):
        return self.units.get(name)

    def names(self):
        return list(self.units)

    def logs(self, name, tail=None, previous=False):
        return b"" if name in self.units else None

    def exec(self, name, argv, timeout=30.0):
        return None

    def usage(self, name):
        return None

    def close(self):
        self.units.clear()


def a_pod(name="p", image="nginx", command=None, restart="Always", limits=None, **spec):
    pod = pod_obj(name, node="n1", restartPolicy=restart, **spec)
    ctr = pod["spec"]["containers"][0]
    ctr["image"] = image
    ctr.pop("command")
    if command is not None:
        ctr["command"] = command
    if limits:
        ctr["resources"]["limits"] = limits
    return pod


def agent(runtime, **kw):
    return NodeAgent("n1", runtime, {"cpu": "4", "memory": "8Gi", "pods": "110"}, **kw)


def container(status):
    return status["containerStatuses"][0]


def events(a):
    return [(kind, reason, message) for _, kind, reason, message in a.take_events()]


# ---- containers as units -------------------------------------------------------------------------
def test_a_container_becomes_a_unit_with_its_image_group_and_resources():
    pod = a_pod(limits={"cpu": "500m", "memory": "64Mi"})
    pod["spec"]["containers"][0]["args"] = ["-g", "daemon off;"]
    [spec] = unit_specs(pod)
    assert spec.image == "nginx" and spec.group == "default/p/uid-p"
    assert spec.command == ("-g", "daemon off;"), "args alone: the image's entry point runs them"
    assert spec.resources == UnitResources(cpu_request_millis=100, cpu_limit_millis=500,
                                           memory_request_bytes=128 * MiB, memory_limit_bytes=64 * MiB)
    pod["spec"]["containers"][0].update(command=["sh", "-c"], args=["echo hi"], resources={"limits": {"memory": "1Gi"}})
    [spec] = unit_specs(pod)
    assert spec.command == ("sh", "-c", "echo hi")
    assert spec.resources.memory_request_bytes == spec.resources.memory_limit_bytes == 2**30, "a limit alone requests it"
    del pod["spec"]["containers"][0]["command"], pod["spec"]["containers"][0]["args"]
    assert unit_specs(pod)[0].command == (), "neither: the image's own entry point and arguments"


def test_empty_dir_and_host_path_volumes_become_mounts(tmp_path):
    pod = a_pod(volumes=[{"name": "scratch", "emptyDir": {}},
                         {"name": "data", "hostPath": {"path": str(tmp_path / "host" / "data"), "type": "DirectoryOrCreate"}},
                         {"name": "cfg", "configMap": {"name": "c"}}])
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/tmp/s"},
                                                    {"name": "data", "mountPath": "/data", "readOnly": True},
                                                    {"name": "cfg", "mountPath": "/etc/c"}]
    [spec] = unit_specs(pod, tmp_path / "volumes")
    scratch, data = spec.mounts
    assert scratch.target == "/tmp/s" and not scratch.read_only
    assert scratch.source == str(tmp_path / "volumes" / "default_p_uid-p" / "volumes" / "scratch")
    assert stat.S_IMODE((tmp_path / "volumes" / "default_p_uid-p" / "volumes" / "scratch").stat().st_mode) == 0o777
    assert data.source == str(tmp_path / "host" / "data") and data.read_only and (tmp_path / "host" / "data").is_dir()


def test_the_pods_empty_dirs_are_removed_with_it_and_host_paths_stay(tmp_path):
    runtime = ScriptedRuntime()
    a = agent(runtime, volumes=tmp_path / "volumes")
    pod = a_pod(volumes=[{"name": "s", "emptyDir": {}}, {"name": "h", "hostPath": {"path": str(tmp_path / "h"),
                                                                                    "type": "DirectoryOrCreate"}}])
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "s", "mountPath": "/s"}, {"name": "h", "mountPath": "/h"}]
    a.observe(pod, T0)
    a.sync(T0)
    assert (tmp_path / "volumes" / "default_p_uid-p" / "volumes" / "s").is_dir()
    a.forget(pod)
    assert not (tmp_path / "volumes" / "default_p_uid-p").exists() and (tmp_path / "h").is_dir()


# ---- pulls ----------------------------------------------------------------------------------------
def test_an_image_that_cannot_be_pulled_keeps_the_pod_pending_never_failed():
    runtime = ScriptedRuntime()
    a = agent(runtime)
    a.observe(a_pod(image="nosuch:1"), T0)
    [(_, _, status)] = a.sync(T0)
    assert status["phase"] == "Pending" and container(status)["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert events(a) == [("Normal", "Pulling", 'Pulling image "nosuch:1"')]
    for reason in ("ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"):
        runtime.set("default/p/main", UnitState.WAITING, reason=reason, message="manifest unknown")
        [(_, _, status)] = a.sync(T0)
        assert status["phase"] == "Pending", "a pull that fails never fails the pod"
        assert container(status)["state"]["waiting"] == {"reason": reason, "message": "manifest unknown"}
        assert container(status)["ready"] is False and "lastState" not in container(status)
    assert events(a) == 2 * [("Warning", "Failed", 'Failed to pull image "nosuch:1": manifest unknown'),
                             ("Warning", "Failed", "Error: ErrImagePull"),
                             ("Normal", "BackOff", 'Back-off pulling image "nosuch:1"'),
                             ("Warning", "Failed", "Error: ImagePullBackOff")]


def test_a_pulled_image_runs_and_the_pod_reports_its_own_address():
    runtime = ScriptedRuntime()
    a = agent(runtime)
    a.observe(a_pod(), T0)
    a.sync(T0)
    runtime.set("default/p/main", UnitState.RUNNING, reason="", started_at=T0 + 2, ip="10.88.0.7")
    [(_, _, status)] = a.sync(T0 + 2)
    assert status["phase"] == "Running" and status["podIP"] == "10.88.0.7" and status["podIPs"] == [{"ip": "10.88.0.7"}]
    assert status["hostIP"] == "127.0.0.1" and container(status)["ready"] is True
    assert container(status)["state"]["running"]["startedAt"]
    assert events(a) == [("Normal", "Pulling", 'Pulling image "nginx"'),
                         ("Normal", "Pulled", 'Successfully pulled image "nginx"'),
                         ("Normal", "Created", "Created container: main"), ("Normal", "Started", "Started container main")]


def test_a_pod_without_an_address_of_its_own_shows_the_hosts():
    a = agent(FakeRuntime(ManualClock(T0)))
    a.observe(a_pod(), T0)
    [(_, _, status)] = a.sync(T0)
    assert status["podIP"] == status["hostIP"] == "127.0.0.1"


# ---- exits ----------------------------------------------------------------------------------------
def test_exit_codes_and_reasons_of_terminated_containers():
    runtime = ScriptedRuntime()
    a = agent(runtime)
    for name, state, code, reason in (("ok", UnitState.SUCCEEDED, 0, "Completed"), ("bad", UnitState.FAILED, 3, "Error"),
                                      ("oom", UnitState.FAILED, 137, "OOMKilled")):
        a.observe(a_pod(name, restart="Never"), T0)
        a.sync(T0)
        runtime.set(f"default/{name}/main", UnitState.RUNNING, reason="", started_at=T0)
        a.sync(T0)
        runtime.set(f"default/{name}/main", state, exit_code=code, reason=reason, finished_at=T0 + 1)
        [(_, _, status)] = a.sync(T0 + 1)
        assert container(status)["state"]["terminated"]["exitCode"] == code
        assert container(status)["state"]["terminated"]["reason"] == reason
        assert status["phase"] == ("Succeeded" if code == 0 else "Failed")


def test_an_oom_killed_container_restarts_with_oom_killed_in_its_last_state():
    clock = ManualClock(T0)
    a = agent(FakeRuntime(clock, backoff=10, max_backoff=10))
    pod = a_pod(limits={"memory": "50Mi"})
    pod["metadata"]["annotations"] = {"berth.dev/fake-exit-after": "1", "berth.dev/fake-exit-code": "137"}
    a.observe(pod, clock.now())
    a.sync(clock.now())
    clock.advance(1)
    [(_, _, status)] = a.sync(clock.now())
    cs = container(status)
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and status["phase"] == "Running"
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled" and cs["lastState"]["terminated"]["exitCode"] == 137
    assert ("Warning", "BackOff", "Back-off restarting failed container main in pod p_default(uid-p)") in events(a)
    clock.advance(10)
    [(_, _, status)] = a.sync(clock.now())
    cs = container(status)
    assert cs["restartCount"] == 1 and cs["state"]["running"] and status["phase"] == "Running"
    assert cs["lastState"]["terminated"]["reason"] == "OOMKilled" and cs["lastState"]["terminated"]["exitCode"] == 137


def test_a_restart_after_an_error_shows_error_in_its_last_state():
    clock = ManualClock(T0)
    a = agent(FakeRuntime(clock, backoff=10, max_backoff=10))
    pod = a_pod(command=["false"])
    pod["metadata"]["annotations"] = {"berth.dev/fake-exit-after": "1", "berth.dev/fake-exit-code": "137"}
    a.observe(pod, clock.now())
    a.sync(clock.now())
    clock.advance(1)
    [(_, _, status)] = a.sync(clock.now())
    assert container(status)["lastState"]["terminated"]["reason"] == "Error", "137 without a memory limit: a kill"
    clock.advance(10)
    [(_, _, status)] = a.sync(clock.now())
    assert container(status)["state"]["running"] and container(status)["lastState"]["terminated"]["reason"] == "Error"


# ---- the process runtime ----------------------------------------------------------------------------
def test_the_process_runtime_waits_on_a_container_without_a_command_and_the_pod_stays_pending(tmp_path):
    runtime = ProcessRuntime(tmp_path)
    a = agent(runtime)
    a.observe(a_pod("img", image="nginx:1.15.4"), T0)
    [(_, _, status)] = a.sync(T0)
    waiting = container(status)["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError" and "--runtime container" in waiting["message"]
    assert status["phase"] == "Pending" and runtime.names() == [], "the image's name is never run as a program"
    [(kind, reason, message)] = events(a)
    assert (kind, reason) == ("Warning", "Failed") and "nginx:1.15.4" in message
    runtime.close()


def test_a_program_that_cannot_start_leaves_the_pod_pending_unless_it_never_restarts(tmp_path):
    runtime = ProcessRuntime(tmp_path)
    a = agent(runtime)
    a.observe(a_pod("again", command=["/nonexistent/program"]), T0)
    a.observe(a_pod("once", command=["/nonexistent/program"], restart="Never"), T0)
    phases = {pod["metadata"]["name"]: (status["phase"], container(status)["state"])
              for _, pod, status in a.sync(T0)}
    assert phases["again"][0] == "Pending" and phases["again"][1]["waiting"]["reason"] == "RunContainerError"
    assert phases["once"][0] == "Failed"
    runtime.close()


# ---- events and the node ------------------------------------------------------------------------------
def test_deletion_records_killing_and_normal_events_can_be_left_out():
    runtime = ScriptedRuntime()
    a = agent(runtime, normal_events=False)
    pod = a_pod()
    a.observe(pod, T0)
    a.sync(T0)
    runtime.set("default/p/main", UnitState.RUNNING, reason="", started_at=T0)
    a.sync(T0)
    runtime.set("default/p/main", UnitState.WAITING, reason="ErrImagePull", message="gone")
    a.sync(T0)
    assert [e[:2] for e in events(a)] == [("Warning", "Failed"), ("Warning", "Failed")], "warnings only"
    a.normal_events = True
    runtime.set("default/p/main", UnitState.RUNNING, reason="", started_at=T0 + 5)
    a.sync(T0 + 5)
    events(a)
    a.observe({**pod, "metadata": {**pod["metadata"], "deletionTimestamp": "2023-11-14T22:13:20Z",
                                   "deletionGracePeriodSeconds": 7}}, T0 + 6)
    assert a.sync(T0 + 6) == [("delete", a.pods["default/p"].pod, None)]
    assert runtime.stopped == [("default/p/main", 7.0)]
    assert events(a) == [("Normal", "Killing", "Stopping container main")]


def test_node_capacity_is_the_machines_or_the_declared_one():
    real = machine_capacity()
    assert set(real) == {"cpu", "memory", "pods"} and int(real["cpu"]) >= 1 and real["memory"].endswith("Ki")
    status = NodeAgent("n", ScriptedRuntime()).node_status(T0)
    assert status["capacity"] == status["allocatable"] == real
    declared = agent(ScriptedRuntime()).node_status(T0)
    assert declared["capacity"] == declared["allocatable"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert declared["nodeInfo"]["containerRuntimeVersion"].startswith("berth-container://")


def test_an_invalid_image_name_keeps_the_pod_pending():
    runtime = ScriptedRuntime()
    a = agent(runtime)
    a.observe(a_pod(image="Bad Name"), T0)
    a.sync(T0)
    runtime.set("default/p/main", UnitState.WAITING, reason="InvalidImageName", message="invalid reference format")
    [(_, _, status)] = a.sync(T0)
    assert status["phase"] == "Pending" and container(status)["state"]["waiting"]["reason"] == "InvalidImageName"
    assert ("Warning", "Failed", "Error: InvalidImageName") in events(a)


def test_last_state_comes_from_the_runtimes_last_reason_when_the_wait_was_not_seen():
    runtime = ScriptedRuntime()
    a = agent(runtime)
    a.observe(a_pod(limits={"memory": "50Mi"}), T0)
    a.sync(T0)
    runtime.set("default/p/main", UnitState.RUNNING, reason="", started_at=T0)
    a.sync(T0)
    runtime.set("default/p/main", UnitState.RUNNING, reason="", started_at=T0 + 9, restarts=1, exit_code=137,
                last_reason="OOMKilled")
    [(_, _, status)] = a.sync(T0 + 9)
    assert container(status)["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert container(status)["lastState"]["terminated"]["exitCode"] == 137 and container(status)["restartCount"] == 1
