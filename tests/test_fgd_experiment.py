"""The FGD experiment reproduces the authors' published means (2 seeds here; 10 in the closing note)."""

import numpy as np
import pytest

from berth.sim.fgd import run_experiment
from berth.sim.published import published_mean

SEEDS = [42, 43]


@pytest.fixture(scope="module")
def experiment(data_dir):
    return run_experiment("default", ["best-fit", "fgd"], SEEDS, data_dir, workers=2)


@pytest.mark.parametrize("policy", ["best-fit", "fgd"])
@pytest.mark.parametrize("level", [100, 130])
def test_matches_published_mean_within_tolerance(experiment, data_dir, policy, level):
    ours = experiment.mean_curve(policy)[level]
    published = published_mean("default", policy, SEEDS, data_dir)[level]
    assert abs(ours - published) <= 0.7, (policy, level, ours, published)


def test_fgd_beats_best_fit_at_130(experiment):
    assert experiment.mean_curve("fgd")[130] > experiment.mean_curve("best-fit")[130] + 1.0


def test_curves_are_monotone_and_bounded_by_demand(experiment):
    one_pod = 8000 / 6_212_000 * 100  # a level is recorded on the arrival that crosses it
    for run in experiment.runs:
        assert np.all(np.diff(run.curve) >= -1e-9)
        assert np.all(run.curve <= np.arange(131) + one_pod)
        assert run.placed > 0
