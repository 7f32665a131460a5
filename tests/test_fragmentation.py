"""FGD's vectorised fragmentation agrees with a direct per-node reading of its definition."""

import itertools
import numpy as np
import pytest

from berth.engine import DemandClass, Engine, PolicyContext
from berth.engine.scorers.fgd import fgd_scores, typical_mix
from berth.model import Node, Resources, Workload

MIX = (DemandClass(4000, 1, 500, (), 5), DemandClass(8000, 1, 1000, (), 3), DemandClass(2000, 1, 2000, ("T4",), 1),
       DemandClass(16000, 1, 0, (), 2), DemandClass(1000, 1, 250, ("A10",), 0.01))


def direct_fragment(cpu_left: int, free: list[int], model: str, mix) -> float:
    """Sum over typical shapes of p * idle GPU milli that shape cannot use, written plainly."""
    total = sum(free)
    frag = 0.0
    for cpu, milli, count, models, p in zip(mix.cpu, mix.milli, mix.count, mix.models, mix.prob):
        fits = sum(1 for f in free if f >= milli) >= count
        usable = milli > 0 and (not models or model in models) and cpu_left >= cpu and fits
        frag += p * (sum(f for f in free if f < milli) if usable else total)
    return frag


def test_typical_mix_covers_the_threshold_and_renormalises():
    mix = typical_mix(MIX)
    assert abs(mix.prob.sum() - 1) < 1e-12
    assert len(mix.prob) == 4  # the 0.01-weight shape falls outside 95%


def test_scores_match_the_direct_definition_on_random_states():
    rng = np.random.default_rng(5)
    nodes = [Node(f"n{i}", Resources.of(cpu=32000, memory=10**6), gpus=int(rng.choice([2, 4, 8])),
                  gpu_model=str(rng.choice(["T4", "G2"]))) for i in range(12)]
    engine = Engine(nodes, "fgd", context=PolicyContext(MIX))
    for i in range(30):
        engine.place(Workload(f"w{i}", Resources.of(cpu=int(rng.integers(1, 8)) * 1000, memory=1,
                                                    gpu=int(rng.choice([0, 200, 500, 700, 1000])))))
    model, snap = engine.policy.scorers[0][0].model, engine.snapshot
    probe = Workload("probe", Resources.of(cpu=2000, memory=1, gpu=300))
    rows = np.arange(len(snap))
    scores = fgd_scores(model, snap, probe, rows)
    for row in rows:
        free = list(snap.gpu_free[row, : snap.gpu_count[row]])
        cpu, model_name = int(snap.free[row, 0]), snap.nodes[row].gpu_model
        before = direct_fragment(cpu, free, model_name, model.mix)
        assert abs(model.frag[row] - before) < 1e-6
        for slot, f in enumerate(free):
            if f < 300:
                assert np.isnan(scores[row, slot])
                continue
            after = direct_fragment(cpu - 2000, free[:slot] + [f - 300] + free[slot + 1:], model_name, model.mix)
            expected = np.trunc(100 / (1 + np.exp(-(before - after) / 1000)))
            assert scores[row, slot] == expected


def exact_fragment(model, cpu_left: int, free: list[int], gpu_model: str) -> float:
    """scale * F in Python integers over the model's integer weights, divided once: the exact value."""
    total, weighted = sum(free), 0
    for cpu, milli, need, models, w in zip(model.cpu[:, 0], model.milli, model.need[:, 0], model.models,
                                           model.weights):
        usable = (milli > 0 and (not models or gpu_model in models) and cpu_left >= cpu
                  and sum(1 for f in free if f >= milli) >= need)
        weighted += int(w) * (sum(f for f in free if f < milli) if usable else total)
    return weighted / model.scale


@pytest.mark.parametrize("weights", [(5, 3, 1, 2, 4), (0.5, 0.3, 0.125, 0.2, 0.01)])
def test_a_full_pass_is_bit_for_bit_the_exact_fragment_and_the_one_row_answer(weights):
    rng = np.random.default_rng(9)
    mix = tuple(DemandClass(c.cpu, c.memory, c.gpu, c.gpu_models, w) for c, w in zip(MIX, weights))
    mix += (DemandClass(3000, 1, 300, (), 2), DemandClass(6000, 1, 4000, (), 1),
            DemandClass(1000, 1, 700, ("G2",), 2))
    nodes = [Node(f"n{i}", Resources.of(cpu=int(rng.choice([8000, 32000])), memory=10**6),
                  gpus=int(rng.choice([1, 4, 8])), gpu_model=str(rng.choice(["T4", "G2", "A10"]))) for i in range(40)]
    engine = Engine(nodes, "fgd", context=PolicyContext(mix))
    for i in range(120):
        engine.place(Workload(f"w{i}", Resources.of(cpu=int(rng.integers(1, 6)) * 1000, memory=1,
                                                    gpu=int(rng.choice([0, 150, 300, 450, 700, 1000, 2000])))))
    model, snap = engine.policy.scorers[0][0].model, engine.snapshot
    rows = np.arange(len(snap))
    for gpu, ask in itertools.product((0, 150, 300, 520, 700, 1000, 2000), (1000, 3000, 7000)):
        probe = Workload("probe", Resources.of(cpu=ask, memory=1, gpu=gpu))   # asks meet rows at every cpu level
        model.refresh(snap)
        full = model.after(snap, probe, rows)
        one = np.vstack([model.after(snap, probe, np.array([row])) for row in rows])
        assert np.array_equal(full, one, equal_nan=True)
        assert np.array_equal(model.after(snap, probe, rows[::3]), full[::3], equal_nan=True)
        for row in rows:
            free = [int(f) for f in snap.gpu_free[row, : snap.gpu_count[row]]]
            cpu, name = int(snap.free[row, 0]), snap.nodes[row].gpu_model
            assert model.frag[row] == exact_fragment(model, cpu, free, name)
            if gpu == 0 or gpu >= 1000:
                taken = [i for i, f in enumerate(free) if f == 1000][: gpu // 1000]
                after = [0 if i in taken else f for i, f in enumerate(free)]
                if len(taken) == gpu // 1000:
                    assert full[row, 0] == exact_fragment(model, cpu - ask, after, name)
                continue
            for slot, f in enumerate(free):
                after = free[:slot] + [f - gpu] + free[slot + 1:]
                expected = exact_fragment(model, cpu - ask, after, name) if f >= gpu else None
                assert (np.isnan(full[row, slot]) if expected is None else full[row, slot] == expected)
