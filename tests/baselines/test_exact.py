from __future__ import annotations

import numpy as np
import pytest

from scsparseot.baselines import exact_ot_map, soft_threshold, translation_map


@pytest.fixture(scope="module")
def gaussian() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.normal(size=(150, 6))


def test_exact_recovers_permuted_translated_copy(gaussian):
    rng = np.random.default_rng(1)
    c = np.array([5.0, -3.0, 0.0, 0.0, 1.0, 0.0])
    perm = rng.permutation(gaussian.shape[0])
    y = gaussian[perm] + c
    tx = exact_ot_map(gaussian, y)
    # a translation is the OT map, and with equal sizes the plan is that permutation
    np.testing.assert_allclose(tx, gaussian + c, atol=1e-5)


def test_exact_close_to_translation_on_fresh_sample():
    rng = np.random.default_rng(2)
    n, d = 300, 5
    c = np.array([2.0, 0.0, -1.0, 0.0, 0.0])
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d)) + c
    delta = exact_ot_map(x, y) - x
    # the mean displacement is exactly mean(y) - mean(x) for a uniform plan
    np.testing.assert_allclose(delta.mean(0), y.mean(0) - x.mean(0), atol=1e-5)
    assert np.abs(delta.mean(0) - c).max() < 0.3
    # and the plan is mostly a translation: displacements scatter less than the data do
    assert np.median(np.linalg.norm(delta - c, axis=1)) < np.median(np.linalg.norm(x - x.mean(0), axis=1))


@pytest.mark.parametrize(("n", "m"), [(40, 40), (40, 25), (25, 40)])
def test_exact_shapes_and_dtype(n, m):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = rng.normal(size=(m, 4)) + 1.0
    tx = exact_ot_map(x, y)
    assert tx.shape == (n, 4)
    assert tx.dtype == np.float32
    assert np.isfinite(tx).all()
    # each image is a convex combination of target cells, so it lies in their bounding box
    assert np.all(tx >= y.min(0) - 1e-5)
    assert np.all(tx <= y.max(0) + 1e-5)
    # and the images' mean is the target mean (uniform marginals)
    np.testing.assert_allclose(tx.mean(0), y.mean(0), atol=1e-5)


def test_exact_does_not_modify_inputs(gaussian):
    x = gaussian.copy()
    y = gaussian[::-1].copy() + 1.0
    x0, y0 = x.copy(), y.copy()
    exact_ot_map(x, y)
    translation_map(x, y, 0.1)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


_GOOD = np.zeros((5, 3))


@pytest.mark.parametrize("fn", [exact_ot_map, lambda x, y: translation_map(x, y, 0.1)])
@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros(5), _GOOD, "2-D"),
        (_GOOD, np.zeros((5, 3, 1)), "2-D"),
        (np.zeros((1, 3)), _GOOD, "at least 2 cells"),
        (_GOOD, np.zeros((1, 3)), "at least 2 cells"),
        (_GOOD, np.zeros((5, 4)), "same number of genes"),
        (np.zeros((5, 0)), np.zeros((5, 0)), "at least 1 gene"),
        (np.array([[0.0, np.nan, 0.0]] * 5), _GOOD, "NaN or infinite"),
        (_GOOD, np.array([[0.0, np.inf, 0.0]] * 5), "NaN or infinite"),
        ([["a", "b"], ["c", "d"]], _GOOD, "numeric array"),
    ],
)
def test_bad_input(fn, x, y, match):
    with pytest.raises(ValueError, match=match):
        fn(x, y)


def test_soft_threshold():
    z = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(soft_threshold(z, 1.0), [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(soft_threshold(z, 0.0), z)


def test_translation_map_scalar_threshold():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 4))
    shift = np.array([3.0, -2.0, 0.05, 0.0])
    y = x[::-1] + shift  # same cells, so mean(y) - mean(x) == shift exactly
    tx = translation_map(x, y, 0.5)
    assert tx.dtype == np.float32
    assert tx.shape == x.shape
    delta = tx - x
    # every cell moves by the same amount: the soft-thresholded mean shift
    np.testing.assert_allclose(delta, np.broadcast_to([2.5, -1.5, 0.0, 0.0], delta.shape), atol=1e-5)
    # below-threshold genes do not move at all
    np.testing.assert_array_equal(tx[:, 2:], x[:, 2:].astype(np.float32))


def test_translation_map_per_gene_threshold():
    x = np.zeros((3, 3))
    y = x + np.array([1.0, 1.0, -1.0])
    tol = np.array([0.0, 2.0, 0.25])
    np.testing.assert_allclose(translation_map(x, y, tol)[0], [1.0, 0.0, -0.75])
    # zero tolerance is the plain mean-shift map
    np.testing.assert_allclose(translation_map(x, y, 0.0), y)


@pytest.mark.parametrize(
    ("tol", "match"),
    [
        (-0.1, ">= 0"),
        (np.array([0.1, -1.0, 0.1]), ">= 0"),
        (np.nan, "finite"),
        (np.ones(2), "shape"),
        (np.ones((3, 1)), "shape"),
    ],
)
def test_translation_map_bad_tol(tol, match):
    with pytest.raises(ValueError, match=match):
        translation_map(np.zeros((4, 3)), np.ones((4, 3)), tol)
