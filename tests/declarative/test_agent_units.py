"""The node agent without sockets: pods become units, unit states become pod status, deletion is graceful."""

from __future__ import annotations

from kube_objects import pod_obj

from berth.declarative.agent.node import NodeAgent
from berth.declarative.agent.podstatus import unit_specs
from berth.model.timestamps import rfc3339
from berth.runtime import FakeRuntime, ManualClock

T0 = 1_700_000_000.0


def agent():
    clock = ManualClock(T0)
    return NodeAgent("n1", FakeRuntime(clock, backoff=10, max_backoff=10), {"cpu": "4", "memory": "8Gi"}), clock


def bound(name="p", restart="Always", **annotations):
    pod = pod_obj(name, node="n1", restartPolicy=restart)
    pod["metadata"]["annotations"] = {f"berth.dev/fake-{k}": v for k, v in annotations.items()}
    pod["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"},
                                           {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    pod["spec"]["containers"][0]["args"] = ["--flag"]
    return pod


def test_containers_become_units_with_command_args_env_and_policy():
    [spec] = unit_specs(bound(restart="OnFailure"))
    assert spec.name == "default/p/main" and spec.command == ("sleep", "1", "--flag")
    assert spec.env == {"A": "1", "ME": "p"} and spec.restart.value == "on-failure"


def test_a_bound_pod_runs_and_reports_running_and_ready_once():
    a, clock = agent()
    a.observe(bound(), clock.now())
    [(kind, pod, status)] = a.sync(clock.now())
    assert kind == "status" and status["phase"] == "Running"
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True" and status["containerStatuses"][0]["state"]["running"]
    clock.advance(5)
    assert a.sync(clock.now()) == [], "nothing changed, nothing written"


def test_crash_loop_counts_restarts_and_shows_back_off():
    a, clock = agent()
    a.observe(bound(**{"exit-after": "1", "exit-code": "2"}), clock.now())
    a.sync(clock.now())
    clock.advance(1)
    [(_, _, status)] = a.sync(clock.now())
    cs = status["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and cs["lastState"]["terminated"]["exitCode"] == 2
    clock.advance(10)
    [(_, _, status)] = a.sync(clock.now())
    assert status["containerStatuses"][0]["restartCount"] == 1 and status["phase"] == "Running"


def test_never_restart_pod_ends_succeeded_or_failed():
    a, clock = agent()
    a.observe(bound("ok", restart="Never", **{"exit-after": "1"}), clock.now())
    a.observe(bound("bad", restart="Never", **{"exit-after": "1", "exit-code": "1"}), clock.now())
    a.sync(clock.now())
    clock.advance(1)
    phases = {pod["metadata"]["name"]: status["phase"] for _, pod, status in a.sync(clock.now())}
    assert phases == {"ok": "Succeeded", "bad": "Failed"}


def test_deletion_stops_units_within_grace_then_deletes_the_pod():
    a, clock = agent()
    pod = bound(**{"stop-after": "3"})
    a.observe(pod, clock.now())
    a.sync(clock.now())
    dying = {**pod, "metadata": {**pod["metadata"], "deletionTimestamp": rfc3339(T0),
                                 "deletionGracePeriodSeconds": 30}}
    a.observe(dying, clock.now())
    assert a.sync(clock.now()) == []
    clock.advance(3)
    [(kind, _, _)] = a.sync(clock.now())
    assert kind == "delete"
    assert a.sync(clock.now()) == [], "the delete is asked for once"


def test_logs_are_served_per_container():
    a, clock = agent()
    a.observe(bound(), clock.now())
    a.sync(clock.now())
    assert b"fake unit default/p/main" in a.logs("default", "p", None, None, False)
    assert a.logs("default", "other", None, None, False) is None
