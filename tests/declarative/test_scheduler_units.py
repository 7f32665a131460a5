"""The scheduler's parts without sockets: quantities, conversion, profiles, queue, cache, cycle, preemption."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kube_objects import node_obj, pod_obj

from berth.declarative.client.quantity import QuantityError, parse_quantity, to_mib, to_millicores
from berth.declarative.scheduler.cache import ClusterState
from berth.declarative.scheduler.config import default_profiles, parse_config
from berth.declarative.scheduler.convert import ConversionError, node_from_object, workload_from_pod
from berth.declarative.scheduler.framework import BIND, INVALID, UNSCHEDULABLE, decide
from berth.declarative.scheduler.queue import SchedulingQueue
from berth.model import ValidationError
from berth.runtime import ManualClock


# ---- quantities ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [("100m", "0.1"), ("1.5Gi", str(1.5 * 2**30)), ("2e3", "2000"), ("1k", "1000"),
                                        ("500Mi", str(500 * 2**20)), (".5", "0.5"), ("1E-2", "0.01")])
def test_quantities_parse_exactly(text, value):
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("bad", ["1.5.5", "abc", "1Qi", "", "--1"])
def test_bad_quantities_are_rejected(bad):
    with pytest.raises(QuantityError):
        parse_quantity(bad)


def test_units_round_requests_up_and_capacity_down():
    assert to_millicores("0.0001") == 1 and to_millicores("0.0001", round_up=False) == 0
    assert to_mib("1.5Gi") == 1536 and to_mib("1000000", round_up=False) == 0


# ---- conversion ------------------------------------------------------------------------------------------
def test_node_conversion_reads_allocatable_gpus_and_unschedulable():
    node = node_from_object(node_obj("n1", cpu="3500m", memory="16Gi", gpus=2, unschedulable=True,
                                     taints=[{"key": "k", "value": "v", "effect": "NoExecute"}]))
    assert node.capacity["cpu"] == 3500 and node.capacity["memory"] == 16384 and node.capacity["pods"] == 110
    assert node.gpus == 2
    assert {t.key for t in node.taints} == {"k", "node.kubernetes.io/unschedulable"}


def test_pod_conversion_sums_containers_and_maps_selectors():
    pod = pod_obj("web", cpu="250m", memory="1Gi", priority=7, nodeSelector={"disk": "ssd"},
                  tolerations=[{"key": "k", "operator": "Exists"}])
    pod["spec"]["containers"].append({"name": "side", "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}})
    w = workload_from_pod(pod)
    assert w.name == "default.web" and w.requests["cpu"] == 1250 and w.requests["memory"] == 1088
    assert w.priority == 7 and w.node_selector[0].key == "disk" and w.tolerations[0].operator == "Exists"


def test_unsupported_affinity_is_a_conversion_error_naming_the_field():
    pod = pod_obj("x", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}]}}})
    with pytest.raises(ConversionError, match="nodeAffinity"):
        workload_from_pod(pod)


# ---- profiles ------------------------------------------------------------------------------------------
def doc(**profile):
    return {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "KubeSchedulerConfiguration",
            "profiles": [profile]}


def test_default_profile_matches_kube_default_weights():
    [p] = default_profiles()
    assert p.scheduler_name == "default-scheduler"
    assert dict(p.policy.scorers) == {"least-allocated": 1, "balanced-allocation": 1, "taint-toleration": 3}


def test_profile_with_most_allocated_and_weights():
    [p] = parse_config(doc(schedulerName="packer",
                           plugins={"score": {"disabled": [{"name": "*"}],
                                              "enabled": [{"name": "NodeResourcesFit", "weight": 5},
                                                          {"name": "ImageLocality"}]}},
                           pluginConfig=[{"name": "NodeResourcesFit",
                                          "args": {"scoringStrategy": {"type": "MostAllocated"}}}]))
    assert p.policy.scorers == (("most-allocated", 5.0),) and p.ignored == ("ImageLocality",)


def test_unknown_plugin_names_the_field():
    with pytest.raises(ValidationError, match=r"profiles\[0\].plugins.score.enabled\[0\].name"):
        parse_config(doc(plugins={"score": {"enabled": [{"name": "NoSuchPlugin"}]}}))


def test_wrong_kind_is_rejected():
    with pytest.raises(ValidationError, match="kind"):
        parse_config({"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "Pod"})


# ---- queue ----------------------------------------------------------------------------------------------
def test_queue_orders_by_priority_then_arrival():
    q = SchedulingQueue(ManualClock())
    q.add("a", 0), q.add("b", 10), q.add("c", 0)
    assert [q.pop(0)[0] for _ in range(3)] == ["b", "a", "c"]


def test_unschedulable_pods_wait_for_a_cluster_event_then_back_off():
    clock = ManualClock()
    q = SchedulingQueue(clock, initial=1, maximum=10)
    q.add("p")
    key, cycle = q.pop(0)
    q.requeue(key, cycle, unschedulable=True)
    clock.advance(100)
    assert q.pop(0) is None and q.counts()["unschedulable"] == 1
    q.move_all()
    assert q.pop(0)[0] == "p"


def test_event_during_the_cycle_sends_the_pod_to_backoff_not_parking():
    clock = ManualClock()
    q = SchedulingQueue(clock, initial=1, maximum=10)
    q.add("p")
    key, cycle = q.pop(0)
    q.move_all()  # a node appeared while "p" was being scheduled
    q.requeue(key, cycle, unschedulable=True)
    assert q.counts()["backoff"] == 1 and q.pop(0) is None
    clock.advance(1)
    assert q.pop(0)[0] == "p"


def test_backoff_doubles_up_to_the_maximum():
    clock = ManualClock()
    q = SchedulingQueue(clock, initial=1, maximum=4)
    q.add("p")
    waits = []
    for _ in range(4):
        key, cycle = q.pop(0)
        q.requeue(key, cycle, unschedulable=False)
        waited = 0.0
        while q.pop(0) is None:
            clock.advance(0.5)
            waited += 0.5
        waits.append(waited)
        q.delete("p")
        q.add("p")
    assert waits == [1.0, 1.0, 1.0, 1.0], "a re-added pod starts over"


def test_backoff_grows_with_attempts():
    clock = ManualClock()
    q = SchedulingQueue(clock, initial=1, maximum=4)
    q.add("p")
    waits = []
    item = q.pop(0)
    for _ in range(4):
        q.requeue(*item, unschedulable=False)
        waited = 0.0
        while (item := q.pop(0)) is None:
            clock.advance(0.5)
            waited += 0.5
        waits.append(waited)
    assert waits == [1.0, 2.0, 4.0, 4.0]


def test_parked_pods_are_flushed_after_the_limit():
    clock = ManualClock()
    q = SchedulingQueue(clock, max_unschedulable=300)
    q.add("p")
    key, cycle = q.pop(0)
    q.requeue(key, cycle, unschedulable=True)
    clock.advance(299)
    assert q.flush() == 0
    clock.advance(1)
    assert q.flush() == 1 and q.pop(0)[0] == "p"


# ---- cache, cycle and preemption ---------------------------------------------------------------------------
def cluster(*nodes):
    state = ClusterState(default_profiles(), seed=1)
    for n in nodes:
        state.set_node(node_from_object(n))
    return state


def test_cycle_binds_to_the_least_allocated_node_and_assumes():
    state = cluster(node_obj("busy", cpu="4"), node_obj("idle", cpu="4"))
    state.add_pod("default/old", workload_from_pod(pod_obj("old", cpu="3")), "busy")
    d = decide(state, pod_obj("new", cpu="1"))
    assert (d.outcome, d.node) == (BIND, "idle")
    assert state.ledger["default/new"].assumed
    state.add_pod("default/new", workload_from_pod(pod_obj("new", cpu="1")), "idle")
    assert not state.ledger["default/new"].assumed


def test_forget_returns_the_resources():
    state = cluster(node_obj("only", cpu="1"))
    assert decide(state, pod_obj("a", cpu="1")).outcome == BIND
    assert decide(state, pod_obj("b", cpu="1")).outcome == UNSCHEDULABLE
    state.forget("default/a")
    assert decide(state, pod_obj("b", cpu="1")).node == "only"


def test_unschedulable_message_is_upstream_wording():
    state = cluster(*(node_obj(f"n{i}", cpu="1") for i in range(5)))
    d = decide(state, pod_obj("big", cpu="2"))
    assert d.outcome == UNSCHEDULABLE
    assert d.message.startswith("0/5 nodes are available: 5 Insufficient cpu.")
    assert "preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod." in d.message


def test_nodes_added_later_and_changed_nodes_are_seen():
    state = cluster(node_obj("a", cpu="1"))
    assert decide(state, pod_obj("p", cpu="2")).outcome == UNSCHEDULABLE
    state.set_node(node_from_object(node_obj("b", cpu="4")))
    assert decide(state, pod_obj("p", cpu="2")).node == "b"
    state.set_node(node_from_object(node_obj("b", cpu="4", taints=[{"key": "gone", "effect": "NoSchedule"}])))
    d = decide(state, pod_obj("q", cpu="500m"))
    assert d.node == "a"
    assert state.ledger["default/p"].node == "b" and state.snapshot.used[state.snapshot.index["b"], 0] == 2000


def test_invalid_pod_is_reported_not_raised():
    assert decide(cluster(node_obj("a")), pod_obj("x", cpu="lots")).outcome == INVALID


def test_preemption_picks_lowest_priority_victims_and_reprieves():
    state = cluster(node_obj("n1", cpu="2"), node_obj("n2", cpu="2"))
    for name, node, prio, cpu in [("low1", "n1", 1, "1"), ("low2", "n1", 1, "1"),
                                  ("mid1", "n2", 5, "1"), ("tiny", "n2", 0, "500m")]:
        state.add_pod(f"default/{name}", workload_from_pod(pod_obj(name, cpu=cpu, priority=prio)), node)
    d = decide(state, pod_obj("vip", cpu="1", priority=10))
    assert d.outcome == UNSCHEDULABLE and d.preemption is not None
    # n2: evicting only "tiny" (priority 0) is enough (mid1 is reprieved); n1 would need a priority-1 victim
    assert d.preemption.node == "n2" and d.preemption.victims == ("default/tiny",)
    assert state.snapshot.used[state.snapshot.index["n2"], 0] == 1500, "dry run restored the snapshot"


def test_no_preemption_of_equal_or_higher_priority():
    state = cluster(node_obj("n1", cpu="1"))
    state.add_pod("default/same", workload_from_pod(pod_obj("same", cpu="1", priority=10)), "n1")
    assert decide(state, pod_obj("vip", cpu="1", priority=10)).preemption is None
