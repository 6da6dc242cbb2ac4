"""Metrics: support counts, sliced Wasserstein, rankings and selection scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scsparseot.core import (
    displacement_dim,
    precision_at_k,
    rank_genes,
    recall,
    sliced_wasserstein,
    support_frequency,
)

DELTA = np.array(
    [
        [0.0, 2.0, 0.5, -0.2],
        [3.0, 0.0, -0.05, 0.0],
        [-1.5, 1.0, 0.0, 0.3],
    ]
)


# ------------------------------------------------------------------------ support and dimension
def test_displacement_dim_scalar_tol():
    # |Δ| > 1: row 0 -> {1}, row 1 -> {0}, row 2 -> {0}  => 1 per cell
    assert displacement_dim(DELTA, 1.0) == 1.0
    # |Δ| > 0.1: row 0 -> 3, row 1 -> 1, row 2 -> 3  => 7/3
    assert displacement_dim(DELTA, 0.1) == pytest.approx(7 / 3)
    # the threshold is strict: |Δ| = 1.0 does not count at tol 1.0
    assert displacement_dim(np.array([[1.0, -1.0]]), 1.0) == 0.0
    # tol 0 counts the non-zero entries: 3 + 2 + 3
    assert displacement_dim(DELTA, 0.0) == pytest.approx(8 / 3)


def test_displacement_dim_per_gene_tol():
    tol = np.array([2.0, 1.5, 0.01, 0.25])
    # row 0: 2 > 1.5, .5 > .01        -> 2
    # row 1: 3 > 2, .05 > .01         -> 2
    # row 2: .3 > .25                 -> 1
    assert displacement_dim(DELTA, tol) == pytest.approx(5 / 3)


def test_displacement_dim_empty():
    assert displacement_dim(np.zeros((0, 4)), 0.1) == 0.0


def test_support_frequency_scalar_and_per_gene():
    np.testing.assert_allclose(support_frequency(DELTA, 0.1), [2 / 3, 2 / 3, 1 / 3, 2 / 3])
    tol = np.array([2.0, 1.5, 0.01, 0.25])
    np.testing.assert_allclose(support_frequency(DELTA, tol), [1 / 3, 1 / 3, 2 / 3, 1 / 3])


def test_support_frequency_consistent_with_dim():
    rng = np.random.default_rng(0)
    delta = rng.normal(size=(40, 7))
    tol = rng.uniform(0.1, 1.5, size=7)
    assert support_frequency(delta, tol).sum() == pytest.approx(displacement_dim(delta, tol))


def test_support_frequency_empty():
    out = support_frequency(np.zeros((0, 3)), 0.1)
    np.testing.assert_array_equal(out, np.zeros(3))


# -------------------------------------------------------------------------- sliced Wasserstein
def test_sliced_wasserstein_identical_clouds_is_zero():
    x = np.random.default_rng(1).normal(size=(300, 4))
    assert sliced_wasserstein(x, x.copy()) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shift", [1.0, -2.5])
def test_sliced_wasserstein_1d_translation(shift):
    # in 1-D the only direction is ±1, so SW2 of a translation is exactly |shift|
    x = np.random.default_rng(2).normal(size=(200, 1))
    assert sliced_wasserstein(x, x + shift, n_projections=10) == pytest.approx(abs(shift), rel=1e-9)


def test_sliced_wasserstein_translation_in_2d():
    # projected onto θ on the unit circle a translation by s moves every point by θ·s, so
    # SW2² = E[(θ·s)²] = |s|²/d and SW2 = |s|/sqrt(d) = 3/sqrt 2 for s = (3, 0), d = 2
    x = np.random.default_rng(3).normal(size=(500, 2))
    s = np.array([3.0, 0.0])
    value = sliced_wasserstein(x, x + s, n_projections=2000)
    assert value == pytest.approx(3.0 / math.sqrt(2), rel=0.05)


def test_sliced_wasserstein_deterministic_for_seed():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 5)), rng.normal(size=(250, 5)) + 0.5
    a = sliced_wasserstein(x, y, n_projections=20, max_points=100, seed=7)
    b = sliced_wasserstein(x, y, n_projections=20, max_points=100, seed=7)
    c = sliced_wasserstein(x, y, n_projections=20, max_points=100, seed=8)
    assert a == b
    assert a != c


def test_sliced_wasserstein_symmetric_and_subsample_noop():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 1.0
    assert sliced_wasserstein(x, y) == pytest.approx(sliced_wasserstein(y, x), rel=1e-9)
    # max_points above the sample size leaves the data as they are
    assert sliced_wasserstein(x, y, max_points=None) == sliced_wasserstein(x, y, max_points=10_000)


def test_sliced_wasserstein_accepts_float32():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    out = sliced_wasserstein(x, x + np.float32(1.0), n_projections=10)
    assert isinstance(out, float)
    assert out > 0


# ------------------------------------------------------------------------------ rank and scores
def test_rank_genes_decreasing_mean_abs_with_index_ties():
    delta = np.array([[1.0, -3.0, 0.0, 2.0, -1.0], [-1.0, 1.0, 0.0, -2.0, 1.0]])
    # mean |Δ| = (1, 2, 0, 2, 1): genes 1 and 3 tie (index order), then 0 and 4, then 2
    np.testing.assert_array_equal(rank_genes(delta), [1, 3, 0, 4, 2])


def test_rank_genes_is_permutation():
    delta = np.random.default_rng(7).normal(size=(20, 9))
    r = rank_genes(delta)
    np.testing.assert_array_equal(np.sort(r), np.arange(9))
    score = np.abs(delta).mean(0)
    assert (np.diff(score[r]) <= 0).all()


def test_precision_at_k():
    assert precision_at_k([3, 1, 2, 0], [1, 3], k=2) == 1.0
    assert precision_at_k([3, 2, 1, 0], [1, 3], k=2) == 0.5
    assert precision_at_k([0, 2, 1, 3], [1, 3]) == 0.0  # k defaults to len(truth) = 2
    assert precision_at_k([3, 2, 1, 0], [1, 3], k=4) == 0.5
    assert precision_at_k(np.array([5, 4]), np.array([4]), k=1) == 0.0
    assert math.isnan(precision_at_k([1, 2], [], k=None))
    assert math.isnan(precision_at_k([1, 2], [1], k=0))


def test_recall():
    assert recall([0, 1, 2], [1, 5]) == 0.5
    assert recall([], [1, 5]) == 0.0
    assert recall(np.array([5, 1, 9]), np.array([1, 5])) == 1.0
    assert math.isnan(recall([1, 2], []))
