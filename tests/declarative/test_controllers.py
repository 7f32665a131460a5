"""The controllers' reconcile functions, as timelines on a virtual clock (no sockets)."""

from __future__ import annotations

import copy

from kube_objects import node_obj, pod_obj

from berth.declarative.client import ApiError
from berth.declarative.client.informer import key_of
from berth.declarative.controllers.actions import Create, Delete, Patch, Update
from berth.declarative.controllers.deployment import HASH_LABEL, reconcile_deployment
from berth.declarative.controllers.garbagecollector import finish_owner, orphaned
from berth.declarative.controllers.manager import ControllerManager
from berth.declarative.controllers.nodelifecycle import UNREACHABLE, evictions, reconcile_node
from berth.declarative.controllers.replicaset import reconcile_replicaset
from berth.model.timestamps import rfc3339
from berth.runtime import ManualClock

T0 = 1_700_000_000.0


def names():
    counter = iter(range(10**6))
    return lambda prefix: f"{prefix}-{next(counter)}"


def rs_obj(name="web-abc", replicas=3, uid="rs-uid", status=None):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}},
            "status": status or {}}


def owned_pod(name, rs_uid="rs-uid", phase="Running", ready=True, created=T0, node="n1"):
    p = pod_obj(name, node=node, labels={"app": "web"})
    p["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-abc", "uid": rs_uid, "controller": True}]
    p["metadata"]["creationTimestamp"] = rfc3339(created)
    p["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                   "lastTransitionTime": rfc3339(created)}]}
    return p


# ---- ReplicaSet ------------------------------------------------------------------------------------------
def test_replicaset_creates_missing_pods_from_its_template():
    actions = reconcile_replicaset(rs_obj(replicas=3), [owned_pod("a")], T0, names())
    creates = [a for a in actions if isinstance(a, Create)]
    assert len(creates) == 2
    body = creates[0].body
    assert body["metadata"]["labels"] == {"app": "web"} and body["metadata"]["ownerReferences"][0]["uid"] == "rs-uid"
    assert body["spec"]["containers"][0]["name"] == "c"


def test_replicaset_deletes_unready_and_newest_pods_first():
    pods = [owned_pod("old-ready", created=T0), owned_pod("new-ready", created=T0 + 10),
            owned_pod("unready", ready=False, created=T0), owned_pod("pending", phase="Pending", node=None)]
    actions = reconcile_replicaset(rs_obj(replicas=1), pods, T0 + 20, names())
    assert [a.name for a in actions if isinstance(a, Delete)] == ["pending", "unready", "new-ready"]


def test_replicaset_status_counts_ready_and_available_and_ignores_terminating():
    gone = owned_pod("gone")
    gone["metadata"]["deletionTimestamp"] = rfc3339(T0)
    actions = reconcile_replicaset(rs_obj(replicas=2), [owned_pod("a"), owned_pod("b", ready=False), gone],
                                   T0 + 1, names())
    [status] = [a for a in actions if isinstance(a, Update)]
    assert status.sub == "status"
    assert {k: status.body["status"][k] for k in ("replicas", "readyReplicas", "availableReplicas")} == \
        {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1}


def test_replicaset_in_steady_state_does_nothing():
    rs = rs_obj(replicas=1, status={"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1,
                                    "availableReplicas": 1, "observedGeneration": 1})
    assert reconcile_replicaset(rs, [owned_pod("a")], T0, names()) == []


# ---- Deployment: a rollout simulated step by step ---------------------------------------------------------
def deployment(replicas=4, surge=1, unavailable=1, command="v1", strategy="RollingUpdate"):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "dep-uid", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": strategy,
                                  "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x", "command": [command]}]}}}}


class World:
    """ReplicaSets whose pods become available one reconcile after they are asked for."""

    def __init__(self):
        self.rs: dict[str, dict] = {}
        self.deployment_status: dict = {}

    def apply(self, actions):
        for a in actions:
            if isinstance(a, Create):
                body = copy.deepcopy(a.body)
                body["metadata"]["uid"] = body["metadata"]["name"]
                body["status"] = {"replicas": 0, "availableReplicas": 0}
                self.rs[body["metadata"]["name"]] = body
            elif isinstance(a, Patch):
                self.rs[a.name]["spec"]["replicas"] = a.patch["spec"]["replicas"]
            elif isinstance(a, Update):
                self.deployment_status = a.body["status"]

    def settle_pods(self):
        for rs in self.rs.values():
            n = rs["spec"]["replicas"]
            rs["status"] = {"replicas": n, "readyReplicas": n, "availableReplicas": n}

    def total(self):
        return sum(rs["status"]["replicas"] for rs in self.rs.values())

    def available(self):
        return sum(rs["status"]["availableReplicas"] for rs in self.rs.values())


def run(world, dep, clock, steps=30, check=None):
    for _ in range(steps):
        world.apply(reconcile_deployment(dep, list(world.rs.values()), clock.now()))
        if check:
            check(world)
        world.settle_pods()
        clock.advance(1)


def test_first_rollout_creates_a_new_replicaset_with_all_replicas():
    world, clock = World(), ManualClock(T0)
    run(world, deployment(replicas=3), clock, steps=3)
    [rs] = world.rs.values()
    assert rs["spec"]["replicas"] == 3 and HASH_LABEL in rs["metadata"]["labels"]
    assert rs["spec"]["selector"]["matchLabels"][HASH_LABEL] == rs["metadata"]["labels"][HASH_LABEL]
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    progressing = {c["type"]: c for c in world.deployment_status["conditions"]}["Progressing"]
    assert progressing["reason"] == "NewReplicaSetAvailable"


def test_rolling_update_respects_max_surge_and_max_unavailable():
    world, clock = World(), ManualClock(T0)
    dep = deployment(replicas=4, surge=1, unavailable=1)
    run(world, dep, clock, steps=3)
    dep2 = deployment(replicas=4, surge=1, unavailable=1, command="v2")
    dep2["metadata"]["generation"] = 2
    seen = []

    def invariant(w):
        specs = sum(rs["spec"]["replicas"] for rs in w.rs.values())
        seen.append(specs)
        assert specs <= 4 + 1, "never more than replicas + maxSurge"
        assert w.available() >= 4 - 1, "never fewer than replicas - maxUnavailable available"

    run(world, dep2, clock, steps=20, check=invariant)
    specs = sorted((rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], rs["spec"]["replicas"])
                   for rs in world.rs.values())
    assert specs == [("1", 0), ("2", 4)]
    status = world.deployment_status
    assert status["updatedReplicas"] == 4 and status["replicas"] == 4 and status["observedGeneration"] == 2
    assert max(seen) == 5


def test_recreate_scales_old_to_zero_before_the_new_one():
    world, clock = World(), ManualClock(T0)
    run(world, deployment(replicas=2, strategy="Recreate"), clock, steps=3)
    dep2 = deployment(replicas=2, strategy="Recreate", command="v2")
    both_up = []
    run(world, dep2, clock, steps=6,
        check=lambda w: both_up.append(sum(1 for rs in w.rs.values() if rs["status"]["replicas"] > 0)))
    assert max(both_up) == 1 and sorted(rs["spec"]["replicas"] for rs in world.rs.values()) == [0, 2]


def test_percentages_round_surge_up_and_unavailable_down():
    from berth.declarative.controllers.deployment import surge_and_unavailable
    dep = deployment()
    dep["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert surge_and_unavailable(dep, 5) == (2, 1)


# ---- node lifecycle -------------------------------------------------------------------------------------------
def lease(renewed):
    return {"metadata": {"name": "n1", "namespace": "kube-node-lease"}, "spec": {"renewTime": rfc3339(renewed)}}


def ready_node(**kw):
    n = node_obj("n1", **kw)
    n["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastHeartbeatTime": rfc3339(T0)}]
    return n


def test_node_with_fresh_lease_is_left_alone():
    assert reconcile_node(ready_node(), lease(T0), T0 + 39, grace=40) == []


def test_stale_lease_marks_unknown_and_taints_unreachable_then_recovery_untaints():
    node = ready_node()
    actions = reconcile_node(node, lease(T0), T0 + 41, grace=40)
    status = next(a for a in actions if a.sub == "status")
    assert status.patch["status"]["conditions"][-1]["status"] == "Unknown"
    taints = next(a for a in actions if a.sub is None).patch["spec"]["taints"]
    assert {(t["key"], t["effect"]) for t in taints} == {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}
    node["spec"]["taints"] = taints
    back = reconcile_node(node, lease(T0 + 50), T0 + 51, grace=40)
    assert [a.patch for a in back] == [{"spec": {"taints": []}}]


def test_eviction_waits_for_toleration_seconds():
    node = ready_node(taints=[{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": rfc3339(T0)}])
    patient = pod_obj("patient", node="n1", tolerations=[{"key": UNREACHABLE, "operator": "Exists",
                                                          "effect": "NoExecute", "tolerationSeconds": 60}])
    forever = pod_obj("forever", node="n1", tolerations=[{"operator": "Exists"}])
    default = pod_obj("default", node="n1")
    actions, later = evictions(node, [patient, forever, default], T0 + 59)
    assert actions == [] and later == T0 + 60
    actions, later = evictions(node, [patient, forever, default], T0 + 60)
    assert [a.name for a in actions] == ["patient"] and later == T0 + 300
    actions, _ = evictions(node, [forever, default], T0 + 300)
    assert [a.name for a in actions] == ["default"]


def test_untolerated_noexecute_taint_evicts_at_once():
    node = ready_node(taints=[{"key": "maintenance", "effect": "NoExecute", "timeAdded": rfc3339(T0)}])
    actions, _ = evictions(node, [pod_obj("p", node="n1")], T0)
    assert [a.name for a in actions] == ["p"]


# ---- garbage collector -------------------------------------------------------------------------------------------
def test_dependent_is_orphaned_only_when_every_owner_is_gone():
    pod = owned_pod("p")
    assert orphaned(pod, lambda ref, ns: False)
    assert not orphaned(pod, lambda ref, ns: ref["uid"] == "rs-uid")
    assert not orphaned(pod_obj("bare"), lambda ref, ns: False)


def test_foreground_deletion_deletes_dependents_then_drops_the_finalizer():
    rs = {**rs_obj(), "metadata": {**rs_obj()["metadata"], "deletionTimestamp": rfc3339(T0),
                                   "finalizers": ["foregroundDeletion"]}}
    pod = {**owned_pod("p"), "kind": "Pod"}
    assert [type(a).__name__ for a in finish_owner(rs, [pod])] == ["Delete"]
    [drop] = finish_owner(rs, [])
    assert drop.patch == {"metadata": {"finalizers": []}}


def test_orphan_propagation_strips_owner_references():
    rs = {**rs_obj(), "metadata": {**rs_obj()["metadata"], "deletionTimestamp": rfc3339(T0),
                                   "finalizers": ["orphan"]}}
    actions = finish_owner(rs, [{**owned_pod("p"), "kind": "Pod"}])
    assert actions[0].patch == {"metadata": {"ownerReferences": []}} and actions[1].name == "web-abc"


class ServerAfterOrphaning:
    """The API server just after an owner deleted with propagation Orphan is gone: its dependent
    ReplicaSet has lost its ownerReferences; deletions are recorded."""

    def __init__(self, rs: dict) -> None:
        self.rs, self.deleted = rs, []

    def get(self, plural, name, namespace=None):
        if plural == "replicasets":
            return self.rs
        raise ApiError(404, "NotFound", f"{plural} {name!r} not found")

    def delete(self, plural, name, namespace=None, **options):
        self.deleted.append((plural, name))


def test_gc_reads_a_dependent_again_before_deleting_it_for_a_gone_owner():
    """The informer still holds the ReplicaSet with its owner's reference, but the server's copy was
    orphaned before the owner went: the collector must not delete it."""
    owner_ref = {"kind": "Deployment", "name": "web", "uid": "dep-1", "controller": True}
    cached = {"kind": "ReplicaSet", "metadata": {"name": "web-abc", "namespace": "default", "uid": "rs-1",
                                                 "ownerReferences": [owner_ref]}}
    manager = ControllerManager("http://127.0.0.1:9")  # never started: no socket is opened
    manager.replicasets.cache[key_of(cached)] = cached
    server = ServerAfterOrphaning({**cached, "metadata": {**cached["metadata"], "ownerReferences": []}})
    manager.client = server
    manager.sync_gc(f"replicasets|{key_of(cached)}")
    assert server.deleted == []
    server.rs = cached  # still owned by the gone Deployment on the server too: now it goes
    manager.sync_gc(f"replicasets|{key_of(cached)}")
    assert server.deleted == [("replicasets", "web-abc")]
