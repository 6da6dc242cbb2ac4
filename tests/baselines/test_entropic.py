from __future__ import annotations

import numpy as np
import ot
import pytest
import torch

from scsparseot.baselines import elastic_map, exact_ot_map, soft_threshold, stvs_grad, stvs_prox
from scsparseot.baselines.entropic import _elastic_cost
from scsparseot.core import STVS

_Z = np.array([-7.0, -2.5, -1.0, -0.3, 0.0, 0.2, 0.9, 1.7, 4.0, 12.0])


def _stvs(z: np.ndarray, gamma: float) -> np.ndarray:
    s = np.arcsinh(np.abs(z) / (2 * gamma))
    return gamma**2 * (s + 0.5 - 0.5 * np.exp(-2 * s))


# ---------------------------------------------------------------- proximal operators


def test_stvs_prox_hand_values():
    # strength 1: z (1 - γ²/z²)_+, ott-jax's ElasticSTVS.prox_reg
    np.testing.assert_allclose(stvs_prox(np.array([-2.0, 0.5, 1.0, 4.0]), 1.0, 1.0), [-1.5, 0.0, 0.0, 3.75])
    np.testing.assert_allclose(stvs_prox(np.array([3.0]), 1.0, 2.0), [3.0 - 4.0 / 3.0])
    # strength 2: sqrt(z² − 4γ²) above the threshold 2γ
    np.testing.assert_allclose(
        stvs_prox(np.array([-4.0, 1.9, 5.0]), 2.0, 1.0), [-np.sqrt(12.0), 0.0, np.sqrt(21.0)]
    )


@pytest.mark.parametrize("strength", [0.0, 0.3, 1.0, 1.6, 2.0])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_stvs_prox_properties(strength, gamma):
    p = stvs_prox(_Z, strength, gamma)
    assert stvs_prox(np.zeros(3), strength, gamma).tolist() == [0.0, 0.0, 0.0]
    assert np.all(np.abs(p) <= np.abs(_Z) + 1e-12)  # shrinks
    assert np.all((p == 0) | (np.sign(p) == np.sign(_Z)))  # keeps the sign
    assert np.all(np.diff(stvs_prox(np.sort(_Z), strength, gamma)) >= 0)  # non-decreasing
    # exactly zero up to the threshold strength·γ, non-zero beyond it
    np.testing.assert_array_equal(p == 0, np.abs(_Z) <= strength * gamma)
    # it is the prox: no grid point does better on ½(p − z)² + λ τ(p)
    grid = np.linspace(-15, 15, 60001)
    for z, pz in zip(_Z, p, strict=True):
        obj = 0.5 * (grid - z) ** 2 + strength * _stvs(grid, gamma)
        assert 0.5 * (pz - z) ** 2 + strength * _stvs(pz, gamma) <= obj.min() + 1e-9


def test_stvs_prox_identity_at_zero_strength():
    np.testing.assert_array_equal(stvs_prox(_Z, 0.0, 1.0), _Z)
    np.testing.assert_array_equal(soft_threshold(_Z, 0.0), _Z)


@pytest.mark.parametrize("strength", [0.4, 1.0, 1.8])
def test_prox_inverts_grad_h(strength):
    # ∇h* = prox_{λτ} is the inverse of ∇h = Id + λ∇τ: the identity behind the elastic map
    p = _Z[_Z != 0]
    np.testing.assert_allclose(stvs_prox(p + strength * stvs_grad(p, 1.5), strength, 1.5), p, atol=1e-10)
    np.testing.assert_allclose(soft_threshold(p + strength * np.sign(p), strength), p, atol=1e-12)


def test_stvs_grad_matches_core_penalty():
    z = torch.tensor(_Z[None, _Z != 0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(STVS(gamma=0.7)(z).sum(), z)
    np.testing.assert_allclose(stvs_grad(_Z[_Z != 0], 0.7), g.numpy()[0], rtol=1e-10)
    assert stvs_grad(np.array([0.0]), 0.7)[0] == 0.0


@pytest.mark.parametrize(
    ("strength", "gamma", "match"), [(-0.1, 1.0, ">= 0"), (2.5, 1.0, "<= 2"), (1.0, 0.0, "gamma")]
)
def test_stvs_prox_bad_parameters(strength, gamma, match):
    with pytest.raises(ValueError, match=match):
        stvs_prox(_Z, strength, gamma)


# ---------------------------------------------------------------- elastic map


@pytest.fixture(scope="module")
def permuted_copy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    return x, x[rng.permutation(50)] + np.array([3.0, 0.0, 0.0])


def test_zero_strength_small_reg_approaches_exact_ot(permuted_copy):
    x, y = permuted_copy
    target = exact_ot_map(x, y)  # = x + (3, 0, 0): a translation is optimal
    med = np.median(0.5 * ot.dist(x, y))
    errors = [
        np.abs(elastic_map(x, y, strength=0.0, reg=f * med) - target).mean() for f in (0.05, 0.01, 1e-3)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3


def test_zero_strength_close_to_exact_on_fresh_shifted_sample():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 4))
    y = rng.normal(size=(60, 4)) + np.array([2.0, 0.0, 0.0, 0.0])
    tx = elastic_map(x, y, strength=0.0, reg=1e-3 * np.median(0.5 * ot.dist(x, y)))
    # the plan is nearly the same permutation: most cells land on their exact-OT match
    close = np.linalg.norm(tx - exact_ot_map(x, y), axis=1) < 0.05
    assert close.mean() > 0.8


@pytest.mark.parametrize(("penalty", "strength"), [("l1", 1.0), ("stvs", 1.0), ("stvs", 1.8)])
def test_small_reg_lands_on_the_h_optimal_match(permuted_copy, penalty, strength):
    # with h strictly convex and ε → 0 the map sends x_i to its match under the elastic cost;
    # this checks the λ∇τ term of T(x) = x − prox(x − Σ p_j (y_j − λ∇τ(x − y_j)))
    x, y = permuted_copy
    cost = _elastic_cost(x, y, penalty, strength, 1.0)
    n = x.shape[0]
    match = ot.emd(np.full(n, 1 / n), np.full(n, 1 / n), cost) @ y * n
    tx = elastic_map(x, y, penalty=penalty, strength=strength, gamma=1.0, reg=1e-3 * np.median(cost))
    np.testing.assert_allclose(tx, match, atol=1e-4)


@pytest.fixture(scope="module")
def two_gene_shift() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 10))
    y = rng.normal(size=(100, 10))
    y[:, :2] += 3.0
    return x, y


@pytest.mark.parametrize(("penalty", "strength"), [("l1", 2.0), ("stvs", 2.0)])
def test_strength_sparsifies_and_keeps_shifted_genes(two_gene_shift, penalty, strength):
    x, y = two_gene_shift
    tol = 0.1 * x.std(0)
    dense = elastic_map(x, y, penalty=penalty, strength=0.0) - x
    sparse = elastic_map(x, y, penalty=penalty, strength=strength) - x
    dim_dense = (np.abs(dense) > tol).sum(1).mean()
    dim_sparse = (np.abs(sparse) > tol).sum(1).mean()
    assert dim_sparse < 0.5 * dim_dense
    # the two shifted genes remain the most displaced ones and keep most of their shift
    assert set(np.argsort(-np.abs(sparse).mean(0))[:2]) == {0, 1}
    assert np.all(sparse[:, :2].mean(0) > 2.0)


def test_support_tol_shapes_and_inputs(two_gene_shift):
    x, y = two_gene_shift
    x0, y0 = x.copy(), y.copy()
    tx = elastic_map(x, y, penalty="l1", strength=0.5)
    assert tx.shape == x.shape
    assert tx.dtype == np.float32
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    tol = np.full(10, 0.3)
    cut = elastic_map(x, y, penalty="l1", strength=0.5, support_tol=tol)
    delta, delta_cut = tx - x.astype(np.float32), cut - x.astype(np.float32)
    small = np.abs(delta) <= 0.3 - 1e-4
    assert np.all(delta_cut[small] == 0)
    np.testing.assert_allclose(
        delta_cut[~small & (np.abs(delta) > 0.3 + 1e-4)], delta[np.abs(delta) > 0.3 + 1e-4]
    )


def test_nonconvergence_warns(two_gene_shift):
    x, y = two_gene_shift
    with pytest.warns(UserWarning, match="did not converge"):
        elastic_map(x, y, n_iter_sinkhorn=1)


_GOOD = np.zeros((5, 3))


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.zeros(5), _GOOD, {}, "2-D"),
        (np.zeros((1, 3)), _GOOD, {}, "at least 2 cells"),
        (_GOOD, np.zeros((5, 4)), {}, "same number of genes"),
        (np.array([[0.0, np.nan, 0.0]] * 5), _GOOD, {}, "NaN or infinite"),
        (_GOOD, _GOOD + 1, {"penalty": "l0"}, "Unknown penalty"),
        (_GOOD, _GOOD + 1, {"strength": -1.0}, ">= 0"),
        (_GOOD, _GOOD + 1, {"penalty": "stvs", "strength": 3.0}, "<= 2"),
        (_GOOD, _GOOD + 1, {"reg": 0.0}, "reg"),
        (_GOOD, _GOOD + 1, {"reg": np.inf}, "reg"),
        (_GOOD, _GOOD + 1, {"gamma": -1.0}, "gamma"),
        (_GOOD, _GOOD + 1, {"n_iter_sinkhorn": 0}, "n_iter_sinkhorn"),
        (_GOOD, _GOOD + 1, {"support_tol": -0.1}, ">= 0"),
        (_GOOD, _GOOD + 1, {"support_tol": np.ones(2)}, "shape"),
        (_GOOD, _GOOD, {"strength": 0.0}, "median elastic cost is 0"),
    ],
)
def test_bad_input(x, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        elastic_map(x, y, **kwargs)
