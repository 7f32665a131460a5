"""The `fgd-strand` online policy: FGD's fragment plus GPU stranded by missing CPU, best fit on ties."""

import numpy as np
import pytest

from berth.engine import DemandClass, Engine, PolicyContext, get_policy
from berth.engine.scorers.fgd import FragmentationModel
from berth.engine.scorers.fgdstrand import FIT, STRANDING, cpu_per_gpu
from berth.model import Node, Resources, ValidationError, Workload
from tests.conftest import node, pod

MIX = (DemandClass(4000, 1, 1000, (), 5), DemandClass(2000, 1, 500, (), 3), DemandClass(16000, 1, 0, (), 2))


def test_registered_and_needs_a_mix():
    assert get_policy("fgd-strand").needs_mix
    with pytest.raises(ValidationError):
        Engine([node("a", gpus=1, model="T4")], "fgd-strand")


def test_cpu_per_gpu_counts_gpu_workloads_only():
    # (4000 * 5 + 2000 * 3) / (1000 * 5 + 500 * 3): the cpu-only class does not count
    assert cpu_per_gpu(MIX) == pytest.approx(26000 / 6500)
    with pytest.raises(ValidationError):
        cpu_per_gpu((DemandClass(1000, 1, 0, (), 1),))


def direct_score(frag: FragmentationModel, ratio: float, cpu: int, free: list[int], model: str,
                 workload: Workload, slot: int | None) -> float:
    """The score written out from the definition for one node and one candidate device."""
    from tests.test_fragmentation import direct_fragment

    need_cpu, gpu = workload.requests["cpu"], workload.requests["gpu"]
    after = list(free)
    if slot is None:
        whole = [i for i, f in enumerate(free) if f == 1000][: workload.gpu_count]
        for i in whole:
            after[i] = 0
    else:
        after[slot] -= gpu
    d_frag = (direct_fragment(cpu - need_cpu, after, model, frag.mix)
              - direct_fragment(cpu, free, model, frag.mix))
    stranded = lambda c, g: max(0.0, g - max(c, 0) / ratio)  # noqa: E731
    d_strand = stranded(cpu - need_cpu, sum(free) - gpu) - stranded(cpu, sum(free))
    score = np.trunc(100 / (1 + np.exp((d_frag + STRANDING * d_strand) / 1000)))
    if slot is not None:
        score += FIT * (1 - after[slot] / 1000)
    return float(score)


@pytest.mark.parametrize("probe", [(3000, 300), (6000, 1000), (12000, 0), (1000, 2000)])
def test_scores_match_the_direct_definition_on_random_states(probe):
    rng = np.random.default_rng(11)
    nodes = [Node(f"n{i}", Resources.of(cpu=int(rng.choice([16000, 32000, 96000])), memory=10**6),
                  gpus=int(rng.choice([2, 4, 8])), gpu_model="T4") for i in range(12)]
    engine = Engine(nodes, "fgd-strand", context=PolicyContext(MIX))
    for i in range(40):
        engine.place(Workload(f"w{i}", Resources.of(cpu=int(rng.integers(1, 8)) * 1000, memory=1,
                                                    gpu=int(rng.choice([0, 200, 500, 700, 1000])))))
    model, snap = engine.policy.scorers[0][0].model, engine.snapshot
    workload = Workload("probe", Resources.of(cpu=probe[0], memory=1, gpu=probe[1]))
    rows = np.arange(len(snap))
    model.frag.refresh(snap)
    scores = model.scores(snap, workload, rows)
    for row in rows:
        free = [int(f) for f in snap.gpu_free[row, : snap.gpu_count[row]]]
        args = (model.frag, model.ratio, int(snap.free[row, 0]), free, snap.nodes[row].gpu_model, workload)
        if workload.gpu_count == 0 or workload.gpu_milli >= 1000:
            if sum(f == 1000 for f in free) >= workload.gpu_count:
                assert scores[row, 0] == direct_score(*args, None)
            continue
        for slot, f in enumerate(free):
            if f < workload.gpu_milli:
                assert np.isnan(scores[row, slot])
            else:
                assert scores[row, slot] == pytest.approx(direct_score(*args, slot))


def test_cpu_hungry_workload_goes_where_cpu_is_left_for_the_remaining_gpus():
    # the mix asks 4 cores per GPU.  "a" has 4 cores per GPU, "b" 16: an 8-core whole GPU on "a"
    # would leave 3 GPUs with 8 cores (1 GPU stranded); no typical shape crosses a cpu threshold,
    # so FGD's fragment ties and its name rule picks "a"; fgd-strand picks "b"
    nodes = [node("a", cpu=16000, memory=65536, gpus=4, model="T4"),
             node("b", cpu=64000, memory=65536, gpus=4, model="T4")]
    mix = PolicyContext((DemandClass(4000, 1, 1000, (), 1),))
    workload = pod("hungry", cpu=8000, memory=1024, gpu=1000)
    assert Engine(nodes, "fgd", context=mix).place(workload).node == "a"
    assert Engine(nodes, "fgd-strand", context=mix).place(workload).node == "b"


def test_best_fit_breaks_a_tie_between_devices():
    # holes of 300 and 250 are fragment for every typical shape, before and after a 200 share:
    # the integer scores tie and the fuller device (250 -> 50 left) wins
    nodes = [node("a", cpu=64000, memory=65536, gpus=3, model="T4", gpu_used=(700, 750, 0))]
    mix = PolicyContext((DemandClass(1000, 1, 1000, (), 3), DemandClass(1000, 1, 500, (), 1)))
    placed = Engine(nodes, "fgd-strand", context=mix).place(pod("s", cpu=1000, memory=1024, gpu=200))
    assert placed.ok and placed.devices == (1,)
