from __future__ import annotations

import numpy as np
import pytest

from scsparseot.baselines import exact_ot_map, rgd_map


@pytest.fixture(scope="module")
def noisy_pairs() -> tuple[np.ndarray, np.ndarray, float]:
    """Cells matched up to small noise on every gene, plus a +3 shift on genes 0 and 1.

    Exact OT recovers the pairing, so its displacements are dense: every gene moves by about the
    noise level, which is the default σ.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 10))
    y = x[rng.permutation(100)] + rng.normal(scale=0.1, size=(100, 10))
    y[:, :2] += 3.0
    sigma = 0.1 * float(np.median(x.std(0)))
    return x, y, sigma


def _smoothed_l0(delta: np.ndarray, sigma: float) -> np.ndarray:
    return (1.0 - np.exp(-(delta**2) / (2 * sigma**2))).sum(1)


def test_reaches_dimension_budget(noisy_pairs):
    x, y, sigma = noisy_pairs
    d0 = exact_ot_map(x, y) - x
    dim0 = _smoothed_l0(d0, sigma)
    assert dim0.mean() > 4.0  # exact OT is dense
    delta = rgd_map(x, y, max_genes=2) - x
    dim = _smoothed_l0(delta, sigma)
    assert abs(dim.mean() - 2.0) < 0.2
    assert np.all(dim[dim0 > 2.0] < 2.2)  # every cell over the budget was brought down to it
    # the budget is spent on the shifted genes, which keep their displacement
    np.testing.assert_allclose(delta[:, :2].mean(0), d0[:, :2].mean(0), atol=0.05)
    assert np.abs(delta[:, 2:]).mean() < 0.2 * np.abs(d0[:, 2:]).mean()


def test_larger_beta_stays_closer_to_exact_ot(noisy_pairs):
    x, y, _ = noisy_pairs
    d0 = exact_ot_map(x, y) - x
    dist = [np.linalg.norm(rgd_map(x, y, max_genes=2, beta=b) - x - d0) for b in (0.1, 10.0, 100.0)]
    assert dist[0] > dist[1] > dist[2] > 0


def test_no_pressure_returns_exact_ot(noisy_pairs):
    x, y, _ = noisy_pairs
    exact = exact_ot_map(x, y)
    # the smoothed ℓ0 is always < n_genes, so a budget of n_genes never binds
    np.testing.assert_allclose(rgd_map(x, y, max_genes=10), exact, atol=1e-6)
    np.testing.assert_array_equal(rgd_map(x, y, max_genes=0, n_iters=0), exact)


def test_deterministic(noisy_pairs):
    x, y, _ = noisy_pairs
    a = rgd_map(x, y, max_genes=3, n_iters=100, seed=0)
    b = rgd_map(x, y, max_genes=3, n_iters=100, seed=0)
    c = rgd_map(x, y, max_genes=3, n_iters=100, seed=1)
    assert a.dtype == np.float32
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)  # full-batch descent: the seed changes nothing


_GOOD = np.zeros((5, 3))


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.zeros(5), _GOOD, {}, "2-D"),
        (_GOOD, np.zeros((5, 4)), {}, "same number of genes"),
        (_GOOD, _GOOD + 1, {"max_genes": -1}, "max_genes"),
        (_GOOD, _GOOD + 1, {"max_genes": np.nan}, "max_genes"),
        (_GOOD, _GOOD + 1, {"beta": -0.5}, "beta"),
        (_GOOD, _GOOD + 1, {"sigma": 0.0}, "sigma"),
        (_GOOD, _GOOD + 1, {"lr": -1.0}, "lr"),
        (_GOOD, _GOOD + 1, {"n_iters": -1}, "n_iters"),
        (_GOOD, _GOOD + 1, {"n_iters": 1.5}, "n_iters"),
        (_GOOD, _GOOD + 1, {"seed": "a"}, "seed"),
    ],
)
def test_bad_input(x, y, kwargs, match):
    kwargs = {"max_genes": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        rgd_map(x, y, **kwargs)
