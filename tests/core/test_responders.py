"""Responder fraction: mixture-proportion estimate from nearest neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from scsparseot.core import responder_fraction, responder_fraction_interval


def _mixture(rho: float, *, shift: float = 3.0, n_x: int = 400, n_y: int = 600, d: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_x, d))
    y = rng.normal(size=(n_y, d))
    y[: round(rho * n_y)] += shift
    return x, y


@pytest.mark.parametrize("rho", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_recovers_the_share_of_separated_responders(rho):
    x, y = _mixture(rho)
    assert responder_fraction(x, y) == pytest.approx(rho, abs=0.08)


def test_bimodal_and_variance_responses_count_as_responding():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 10))
    sign = np.where(rng.random(500) < 0.5, 1.0, -1.0)[:, None]
    y_bimodal = rng.normal(size=(500, 10)) + 2.0 * sign  # mean unchanged
    assert responder_fraction(x, y_bimodal) > 0.9
    y_half = y_bimodal.copy()
    y_half[:250] = rng.normal(size=(250, 10))
    assert responder_fraction(x, y_half) == pytest.approx(0.5, abs=0.1)


def test_weak_effects_are_not_overestimated():
    x, y = _mixture(0.5, shift=0.3, d=4)
    assert responder_fraction(x, y) < 0.5


def test_unequal_group_sizes_and_subsampling():
    x, y = _mixture(0.5, n_x=300, n_y=1500)
    full = responder_fraction(x, y, max_cells=None)
    sub = responder_fraction(x, y, max_cells=400, seed=3)
    assert full == pytest.approx(0.5, abs=0.08)
    assert sub == pytest.approx(0.5, abs=0.12)
    assert responder_fraction(x, y, max_cells=400, seed=3) == sub


def test_degenerate_inputs():
    x, y = _mixture(0.5)
    assert responder_fraction(x[:, :0], y[:, :0]) == 0.0
    assert responder_fraction(x[:1], y) == 0.0
    with pytest.raises(ValueError, match="same number of columns"):
        responder_fraction(x, y[:, :3])


def test_target_response_follows_the_moved_source_cells():
    from scsparseot.core import target_response

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 3))
    moved = np.arange(200) < 100
    delta = np.where(moved[:, None], 3.0, 0.0) * np.array([1.0, 0.0, 0.0])
    response = np.linalg.norm(delta, axis=1)
    y = rng.normal(size=(200, 3))
    responders = np.arange(200) < 60
    y[responders, 0] += 3.0
    score = target_response(x + delta, response, y)
    assert score[responders].mean() > 2.0 > score[~responders].mean()
    # within groups: a target cell only sees the source cells of its own group
    groups_x, groups_y = np.where(moved, "a", "b"), np.where(responders, "a", "b")
    within = target_response(x + delta, response, y, source_groups=groups_x, target_groups=groups_y)
    np.testing.assert_allclose(within, np.where(responders, 3.0, 0.0))
    with pytest.raises(ValueError, match="both source_groups and target_groups"):
        target_response(x, response, y, source_groups=groups_x)


@pytest.mark.parametrize("rho", [0.0, 0.2, 0.5, 1.0])
def test_no_bias_with_many_more_source_cells(rho):
    # 5000 control vs 200 treated cells: the unbalanced kNN share used to report ~0.3 with no responders
    estimates = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(5000, 5)), rng.normal(size=(200, 5))
        y[rng.random(200) < rho] += 2.0
        estimates.append(responder_fraction(x, y, seed=seed))
    assert np.mean(estimates) == pytest.approx(rho, abs=0.05)


@pytest.mark.parametrize(("n_x", "n_y"), [(1000, 1000), (5000, 200)])
def test_interval_covers_the_true_share(n_x, n_y):
    # over seeds and true shares, the 95% half-sampling interval holds the truth nearly always, and is
    # no wider than needed to tell 0.2 from 0.5 at these sizes
    hits, widths = [], []
    for rho in (0.0, 0.2, 0.5, 1.0):
        for seed in range(5):
            x, y = _mixture(rho, n_x=n_x, n_y=n_y, d=5, seed=seed)
            est, low, high = responder_fraction_interval(x, y, seed=seed)
            assert 0.0 <= low <= est <= high <= 1.0
            hits.append(low <= rho <= high)
            widths.append(high - low)
    assert np.mean(hits) >= 0.9
    assert np.median(widths) < 0.3


def test_interval_needs_cells_and_a_level_below_one():
    x, y = _mixture(0.5, n_x=6, n_y=6)
    assert np.isnan(responder_fraction_interval(x, y)[1:]).all()
    x, y = _mixture(0.5)
    with pytest.raises(ValueError, match="level must be below 1"):
        responder_fraction_interval(x, y, level=1.0)
    with pytest.raises(ValueError, match="level"):
        responder_fraction_interval(x, y, level=0.0)
