"""The repack repair: room for a GPU workload no node can take, made by moving placed shares."""

from berth.engine import Engine, Placement, Unschedulable
from berth.engine.policy import Policy
from berth.engine.repair import RepackRepair
from berth.model import GPU_WHOLE
from berth.model.constraints import LabelRequirement
from tests.conftest import node, pod

REPACK = Policy("test-repack", "least-allocated, with the repack repair", (("least-allocated", 1),),
                devices="first-fit", tie_break="first", repair="repack")


def fragmented(moves: bool) -> Engine:
    """Three devices on two nodes holding 500, 400 and 400: no device is free for a whole GPU,
    yet 500 + 400 fit on one device, which frees another."""
    engine = Engine([node("a", cpu=8000, gpus=2), node("b", cpu=8000, gpus=1)], REPACK, moves=moves)
    for name, row, device, milli in (("s1", 0, 0, 500), ("s2", 0, 1, 400), ("s3", 1, 0, 400)):
        engine.assign(row, pod(name, cpu=1000, gpu=milli), (device,))
    return engine


def consistent(engine: Engine) -> None:
    """The snapshot holds exactly the placed workloads, and no device or node is overdrawn."""
    snap = engine.snapshot
    assert snap.gpu_allocated() == sum(w.requests["gpu"] for _, w, _ in engine.placed.values())
    assert (snap.gpu_free >= 0).all() and (snap.gpu_free <= GPU_WHOLE).all() and (snap.free >= 0).all()
    for (row, device), held in engine.sharers.items():
        assert all(engine.placed[name][:1] == (row,) and engine.placed[name][2] == (device,) for name in held)


def test_without_moves_the_workload_is_unschedulable_with_its_reasons():
    decision = fragmented(moves=False).place(pod("whole", cpu=1000, gpu=1000))
    assert isinstance(decision, Unschedulable) and decision.reasons == {"Insufficient gpu": 2}


def test_a_repack_frees_a_device_and_lists_the_moves():
    engine = fragmented(moves=True)
    decision = engine.place(pod("whole", cpu=1000, gpu=1000))
    assert isinstance(decision, Placement) and decision.moved
    consistent(engine)
    row, _, devices = engine.placed["whole"]
    assert engine.snapshot.gpu_free[row, devices[0]] == 0
    for name, node_name, moved_to in decision.moved:
        assert engine.placed[name][0] == engine.snapshot.index[node_name] and engine.placed[name][2] == moved_to
    assert engine.snapshot.gpu_allocated() == 2300
    assert engine.release("s1") and engine.release("whole")
    consistent(engine)


def test_a_moved_share_only_goes_where_its_filters_pass():
    # b's device has the largest hole, so it is tried first, but emptying it would move s3, which
    # may only run on b: the plan must take a device on a instead and leave s3 where it is.
    engine = Engine([node("a", cpu=8000, gpus=2), node("b", cpu=8000, gpus=1)], REPACK, moves=True)
    pinned = (LabelRequirement("kubernetes.io/hostname", "In", ("b",)),)
    for w, row, device in ((pod("s1", gpu=300), 0, 0), (pod("s2", gpu=300), 0, 1),
                           (pod("s3", gpu=200, node_selector=pinned), 1, 0)):
        engine.assign(row, w, (device,))
    decision = engine.place(pod("whole", gpu=1000))
    assert decision.ok and engine.placed["s3"][0] == 1
    consistent(engine)


def test_no_plan_when_the_shares_cannot_be_packed_tighter():
    engine = Engine([node("a", cpu=8000, gpus=2)], REPACK, moves=True)
    engine.assign(0, pod("s1", gpu=600), (0,))
    engine.assign(0, pod("s2", gpu=600), (1,))
    assert not engine.place(pod("whole", gpu=1000)).ok
    consistent(engine)


def test_a_node_without_room_for_a_moved_share_is_not_used():
    # each share's device has room for the other share, but neither node has cpu left for it.
    engine = Engine([node("a", cpu=1000, gpus=1), node("b", cpu=1000, gpus=1)], REPACK, moves=True)
    engine.assign(0, pod("s1", cpu=1000, gpu=500), (0,))
    engine.assign(1, pod("s2", cpu=1000, gpu=400), (0,))
    assert not engine.place(pod("whole", cpu=500, gpu=1000)).ok
    consistent(engine)


def test_a_failed_search_is_not_repeated_on_the_same_neighbourhood():
    engine = Engine([node("a", cpu=8000, gpus=2)], REPACK, moves=True)
    engine.assign(0, pod("s1", gpu=600), (0,))
    engine.assign(0, pod("s2", gpu=600), (1,))
    repair: RepackRepair = engine.repair
    calls = []
    search = repair._search
    repair._search = lambda *args: calls.append(1) or search(*args)
    for i in range(3):
        assert not engine.place(pod(f"w{i}", gpu=1000)).ok
    assert len(calls) == 1
    engine.release("s2")
    engine.assign(0, pod("s3", gpu=300), (1,))    # the neighbourhood changed: search again
    assert engine.place(pod("w9", gpu=1000)).ok and len(calls) == 2
    assert sorted(engine.snapshot.gpu_free[0].tolist()) == [0, 100]
