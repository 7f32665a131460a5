"""The `fgd-lookahead` online policy: `fgd-strand` plus the expected eventual waste of a share's hole."""

import numpy as np

from berth.engine import DemandClass, Engine, PolicyContext, get_policy
from berth.engine.scorers.fgdlook import LOOK, LookModel, eventual_waste
from berth.engine.scorers.fgdstrand import StrandModel
from tests.conftest import node, pod

# shares of 300 and 500 are a quarter of arrivals each, whole GPUs the other half
MIX = (DemandClass(1000, 1, 300, (), 1), DemandClass(1000, 1, 500, (), 1), DemandClass(1000, 1, 1000, (), 2))


def test_registered_and_needs_a_mix():
    assert get_policy("fgd-lookahead").needs_mix


def test_eventual_waste_by_hand():
    waste = eventual_waste(MIX)  # KAPPA * 1/4 >= 1: every hole that some share fits gets used
    assert waste[299] == 299 and waste[0] == 0 and waste[1000] == 0
    assert waste[400] == 100  # only 300 fits: 400 -> 100
    assert waste[500] == 100  # 300 -> 200 left, or 500 -> 0, equally likely
    assert waste[800] == 50  # 500 -> W(300) = 0, or 300 -> W(500) = 100
    # with kappa 2 a hole that only 300 fits is used half the time: 0.5 * 400 + 0.5 * 100
    assert eventual_waste(MIX, kappa=2)[400] == 250


def test_delta_is_fgd_strand_plus_the_waste_change_for_shares_only():
    rng = np.random.default_rng(7)
    nodes = [node(f"n{i}", cpu=int(rng.choice([16000, 64000])), memory=10**6, gpus=4, model="T4")
             for i in range(10)]
    engine = Engine(nodes, "fgd-lookahead", context=PolicyContext(MIX))
    for i in range(30):
        gpu = int(rng.choice([0, 300, 500, 1000]))
        engine.place(pod(f"w{i}", cpu=int(rng.integers(1, 6)) * 1000, memory=1, gpu=gpu))
    snap, rows = engine.snapshot, np.arange(len(engine.snapshot))
    look, strand = LookModel(MIX), StrandModel(MIX)
    waste = eventual_waste(MIX)
    share = pod("share", cpu=1000, memory=1, gpu=300)
    got, base = look.delta(snap, share, rows), strand.delta(snap, share, rows)
    free = snap.gpu_free
    expected = base + LOOK * (waste[np.clip(free - 300, 0, None)] - waste[free])
    assert np.array_equal(np.isnan(got), np.isnan(base))
    assert np.allclose(got[~np.isnan(got)], expected[~np.isnan(got)])
    whole = pod("whole", cpu=1000, memory=1, gpu=1000)
    assert np.array_equal(look.delta(snap, whole, rows), strand.delta(snap, whole, rows))
