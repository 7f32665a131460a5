"""The `fgd-ss` online policy: FGD plus a sum-of-squares term on the cluster's GPU gap sizes."""

import numpy as np

from berth.engine import Engine, PolicyContext, get_policy
from berth.engine.policy import DemandClass
from berth.engine.scorers.fgdss import gap_histogram, squares_change
from berth.engine.snapshot import Snapshot
from tests.conftest import node, pod

MIX = PolicyContext(mix=(DemandClass(1000, 1024, 500, (), 3.0), DemandClass(1000, 1024, 1000, (), 5.0),
                         DemandClass(1000, 1024, 300, (), 2.0)))


def test_registered_and_needs_a_mix():
    assert get_policy("fgd-ss").needs_mix


def test_histogram_and_change_of_the_sum_of_squares():
    nodes = [node("a", cpu=32000, memory=65536, gpus=2, model="T4", gpu_used=(500, 0)),
             node("b", cpu=32000, memory=65536, gpus=2, model="T4", gpu_used=(500, 700))]
    snap = Snapshot(nodes)
    hist = gap_histogram(snap)
    assert hist[50] == 2 and hist[30] == 1 and hist[100] == 0
    change = squares_change(snap, 200, np.array([0, 1]))
    # a's device 0: gap 500 -> 300: 2 * (N(300)=1 - N(500)=2) + 2 = 0; device 1 is wholly free: 2 * N(800) + 1
    assert change[0, 0] == 0 and change[0, 1] == 1
    # b's device 1: gap 300 -> 100: 2 * (0 - 1) + 2 = 0
    assert change[1, 1] == 0


def test_places_every_workload_that_fits_and_respects_devices():
    nodes = [node(f"n{i}", cpu=32000, memory=65536, gpus=4, model="T4") for i in range(4)]
    engine = Engine(nodes, "fgd-ss", context=MIX)
    sizes = [500, 300, 1000, 500, 300, 2000, 700, 200, 500, 1000]
    for i, g in enumerate(sizes):
        assert engine.place(pod(f"p{i}", cpu=1000, memory=1024, gpu=g)).ok
    assert (engine.snapshot.gpu_free >= 0).all()
    assert engine.snapshot.gpu_allocated() == sum(sizes)


def test_prefers_the_gap_the_cluster_lacks_when_fgd_ties():
    # two identical nodes; one device already at 500 free on each.  A 500 share closes a gap (both
    # policies agree), a 200 share on a free device vs on a 500 gap: fgd-ss must pick a device
    nodes = [node("a", cpu=32000, memory=65536, gpus=2, model="T4", gpu_used=(500, 0)),
             node("b", cpu=32000, memory=65536, gpus=2, model="T4", gpu_used=(500, 0))]
    engine = Engine(nodes, "fgd-ss", context=MIX)
    placed = engine.place(pod("s", cpu=1000, memory=1024, gpu=500))
    assert placed.ok and placed.devices == (0,)
