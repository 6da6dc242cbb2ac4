"""State-conditional map: responses confined to one cell state or to a share of cells."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from scsparseot.core import (
    ConditionalConfig,
    ConditionalMap,
    TrainConfig,
    fit_conditional,
    map_from_arrays,
    target_response,
)
from scsparseot.core._state_maps import MIN_START_STEPS, MIN_STATE_ITERS, _state_direction, state_budgets
from scsparseot.core.result import STATE_COLUMNS


def _two_types(n: int = 300, d: int = 40, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cells of two types, told apart by genes 0-5 (not by the responding genes 10-14)."""
    rng = np.random.default_rng(seed)

    def cells() -> tuple[np.ndarray, np.ndarray]:
        a = rng.normal(size=(n, d))
        kind = np.arange(n) < n // 2
        a[kind, :6] += 4.0
        return a, kind

    (x, kx), (y, ky) = cells(), cells()
    return x, y, kx, ky


def _auroc(score: np.ndarray, labels: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(score)
    n1, n0 = labels.sum(), (~labels).sum()
    return float((r[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def test_one_type_response_moves_that_type_only():
    x, y, kx, ky = _two_types()
    y[np.ix_(ky, np.arange(10, 15))] += 1.0  # one SD, first type only
    fit = fit_conditional(x, y, seed=0)
    selected = np.flatnonzero(fit.adj_p_value <= 0.05)
    assert set(selected) == set(range(10, 15))
    assert fit.heterogeneous[10:15].all()
    d = fit.map.displacement(x)
    assert np.all(d[~kx] == 0.0)  # the other type is left exactly in place
    assert np.all(d[:, 15:] == 0.0) and np.all(d[:, :10] == 0.0)  # no leakage into other genes
    assert d[kx][:, 10:15].mean() == pytest.approx(1.0, abs=0.25)
    err = (
        (d - np.where(kx[:, None] & (np.arange(x.shape[1]) >= 10) & (np.arange(x.shape[1]) < 15), 1.0, 0.0))
        ** 2
    ).sum()
    assert err / (kx.sum() * 5) < 0.2  # per-cell error against the planted displacement
    assert _auroc(np.linalg.norm(d, axis=1), kx) > 0.99


def test_state_switch_moves_the_far_end_and_ranks_treated_responders():
    rng = np.random.default_rng(1)
    x, y, _, _ = _two_types(n=400, seed=1)
    responders = rng.random(y.shape[0]) < 0.4  # a share of every type
    y[np.ix_(responders, np.arange(10, 20))] += 1.5
    fit = fit_conditional(x, y, seed=0)
    assert set(np.flatnonzero(fit.adj_p_value <= 0.05)) == set(range(10, 20))
    assert not fit.heterogeneous.any()  # the same share responds in both types
    d = fit.map.displacement(x)
    move = np.linalg.norm(d, axis=1)
    assert move.max() > 2 * move.min()  # not a translation: some cells move far, others little
    score = target_response((x + d)[:, 10:20], move, y[:, 10:20])
    assert _auroc(score, responders) > 0.9


def test_no_effect_selects_nothing_and_moves_nothing():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 30)), rng.normal(size=(300, 30))
    fit = fit_conditional(x, y, seed=0)
    assert not (fit.adj_p_value <= 0.05).any()
    assert np.all(fit.map.displacement(x) == 0.0)


def test_map_is_monotone_along_each_state_direction():
    x, y, _kx, ky = _two_types()
    y[np.ix_(ky, [10, 11])] *= 2.0  # spread grows: a monotone, non-constant map along the direction
    y[np.ix_(ky, [10, 11])] += 1.0
    m = fit_conditional(x, y, seed=0, train=False).map  # the closed form (the trained map's start)
    for c in range(m.n_states):
        u = m.direction[c]
        if not u.any():
            continue
        s = np.linspace(-4, 4, 200)
        image = s + np.interp(s, m.knots[c], m.steps[c]) + m.offset[c]
        assert np.all(np.diff(image) >= -1e-6)  # gradient of a convex potential along u


def test_trained_state_maps_refine_the_start_in_the_responding_state_only():
    x, y, kx, ky = _two_types()
    y[np.ix_(ky, np.arange(10, 15))] += 1.0
    closed = fit_conditional(x, y, seed=0, train=False)
    fit = fit_conditional(x, y, seed=0)
    assert not closed.map.state_maps and fit.map.state_maps
    for cols, _ in fit.map.state_maps.values():
        assert set(cols) == set(range(10, 15))
    d, d0 = fit.map.displacement(x), closed.map.displacement(x)
    np.testing.assert_array_equal(fit.map.displacement(x, trained=False), d0)
    assert not np.array_equal(d, d0)  # training changed the map ...
    assert np.all(d[~kx] == 0.0) and np.all(d[:, :10] == 0.0) and np.all(d[:, 15:] == 0.0)
    assert d[kx][:, 10:15].mean() == pytest.approx(1.0, abs=0.25)  # ... and it still moves by the shift
    # the result says which states were trained, and how: one table row and one history per state
    table = fit.states
    assert set(table) == set(STATE_COLUMNS) and len(table["state"]) == fit.map.n_states
    trained = np.flatnonzero(table["trained"])
    assert sorted(trained.tolist()) == sorted(fit.map.state_maps)
    assert np.all(table["n_iters"][trained] > 0) and fit.n_iters == table["n_iters"].sum()
    assert np.all(table["responds"][trained]) and np.all(table["n_moved_genes"][trained] == 5)
    assert sorted(np.unique(fit.history["state"]).tolist()) == trained.tolist()
    assert fit.reason in ("converged", "max_iters") and not fit.diverged
    assert closed.reason == "closed_form" and not closed.history and closed.n_iters == 0
    # the calls are computed once, in the fit
    np.testing.assert_array_equal(fit.selected, fit.adj_p_value <= 0.05)
    np.testing.assert_allclose(fit.displacements.mean, d.mean(0), atol=1e-6)
    assert np.array_equal(fit.source_states, fit.map.states(x))


def test_callback_sees_every_state_and_counts_steps_over_them():
    x, y, _, ky = _two_types()
    y[np.ix_(ky, np.arange(10, 15))] += 1.0
    records = []
    fit = fit_conditional(
        x,
        y,
        seed=0,
        config=ConditionalConfig(train=TrainConfig(n_iters=50, eval_every=10, hidden=(8,))),
        callback=records.append,
    )
    steps = [r["step"] for r in records]
    assert steps == sorted(steps) and steps[-1] == fit.n_iters
    assert {int(r["state"]) for r in records} == set(fit.map.state_maps)


def test_save_load_and_array_round_trip(tmp_path):
    x, y, _, ky = _two_types(n=200)
    y[np.ix_(ky, [12])] += 1.5
    m = fit_conditional(x, y, seed=0, genes=[f"g{i}" for i in range(x.shape[1])]).map
    assert m.state_maps
    again = ConditionalMap.load(m.save(tmp_path / "map"))
    np.testing.assert_array_equal(again.displacement(x), m.displacement(x))
    assert again.genes == m.genes
    assert isinstance(map_from_arrays(m.to_arrays()), ConditionalMap)
    np.testing.assert_array_equal(again.states(y), m.states(y))


def test_same_seed_same_map():
    x, y, _, ky = _two_types(n=200)
    y[np.ix_(ky, [12])] += 1.5
    a, b = fit_conditional(x, y, seed=3).map, fit_conditional(x, y, seed=3).map
    np.testing.assert_array_equal(a.displacement(x), b.displacement(x))


def test_bad_arguments():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="fdr must be in"):
        fit_conditional(x, x, fdr=0.0)
    with pytest.raises(ValueError, match="n_states must be an integer"):
        ConditionalConfig(n_states=0)
    with pytest.raises(ValueError, match="heterogeneity must be in"):
        ConditionalConfig(heterogeneity=1.5)
    for bad in ((0.5, 0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (0.5, 0.5)):
        with pytest.raises(ValueError, match="weights must be three non-negative weights"):
            ConditionalConfig(weights=bad)
    m = fit_conditional(
        np.random.default_rng(0).normal(size=(50, 3)), np.random.default_rng(1).normal(size=(50, 3))
    ).map
    with pytest.raises(ValueError, match="Expected an array of shape"):
        m.displacement(np.zeros((4, 5)))


def test_bad_cells_are_named():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    with pytest.raises(ValueError, match="different numbers of genes: 4 and 3"):
        fit_conditional(x, y[:, :3])
    y[0, 0] = np.nan
    with pytest.raises(ValueError, match="target data contains NaN"):
        fit_conditional(x, y)
    with pytest.raises(ValueError, match="source data needs at least 2 cells"):
        fit_conditional(x[:1], x)


def test_test_weights_split_the_level_and_steer_the_ranking():
    """A gene's p-value is min(1, p_global / w0, K·p_state / w1, p_spread / w2): all weight on the global
    test gives the Welch p-value itself (one state: the stratified test is Welch's); weight on the
    spread test finds a gene whose mean stays."""
    from scipy import stats

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 30)), rng.normal(size=(400, 30))
    y[:, 3] += 0.4  # a mean shift of every cell
    y[:, 7] *= 2.0  # a change of spread, the mean unchanged
    one = ConditionalConfig(n_states=1)
    only_global = fit_conditional(x, y, config=replace(one, weights=(1.0, 0.0, 0.0)), train=False)
    welch = stats.ttest_ind(y, x, equal_var=False).pvalue
    np.testing.assert_allclose(only_global.p_value, welch, rtol=1e-4)
    assert not only_global.adj_p_value[7] <= 0.05
    default = fit_conditional(x, y, config=one, train=False)
    assert np.flatnonzero(default.adj_p_value <= 0.05).tolist() == [3, 7]
    # the default's global weight 0.7: the shifted gene's p-value is its Welch p-value / 0.7
    np.testing.assert_allclose(default.p_value[3], welch[3] / 0.7, rtol=1e-4)


def test_state_budgets_share_one_target_budget_by_cells():
    train = TrainConfig(n_iters=500, min_iters=100)
    budget = state_budgets(train, {0: 600, 1: 300, 2: 100})
    iters = {c: b[0].n_iters for c, b in budget.items()}
    assert iters == {0: 300, 1: 150, 2: MIN_STATE_ITERS}  # 50 steps at least
    assert sum(iters.values()) <= train.n_iters + MIN_STATE_ITERS
    assert budget[0][0].min_iters == 60 and budget[0][0].lr == train.lr  # early stopping scales alike
    assert budget[0][1] == 180 and budget[2][1] == MIN_START_STEPS  # start steps shared too
    # one state moving gets the whole budget; a tiny budget is never exceeded
    assert state_budgets(train, {3: 50})[3][0].n_iters == 500
    assert state_budgets(TrainConfig(n_iters=20), {0: 1, 1: 99})[0][0].n_iters == 20


def test_a_target_s_training_steps_do_not_grow_with_its_moving_states():
    # a shift of every cell moves every state: the states share the budget instead of each taking it
    x, y, _, _ = _two_types()
    y[:, 10:15] += 1.0
    cfg = ConditionalConfig(train=TrainConfig(n_iters=400, min_iters=400, eval_every=25, hidden=(8,)))
    fit = fit_conditional(x, y, seed=0, config=cfg)
    k = len(fit.map.state_maps)
    assert k >= 2
    assert 0.9 * 400 <= fit.n_iters <= 1.1 * 400  # each state its share, not 400 each


def test_a_state_with_only_spread_genes_and_few_target_cells_does_not_move():
    import warnings

    rng = np.random.default_rng(0)
    zx, zy = rng.normal(size=(30, 4)), rng.normal(size=(3, 4))
    b = np.zeros(4)  # no mean shift in the state, a spread gene only
    moved = np.array([False, True, False, False])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u, shift, off = _state_direction(zx, zy, b, moved, second_moments=False)
    np.testing.assert_array_equal(u, 0.0)
    assert shift == 0.0
    np.testing.assert_array_equal(off, 0.0)
