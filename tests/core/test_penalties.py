"""Penalties: hand-computed values, gradients, axioms shared by every penalty, k-overlap theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scsparseot.core import L1, STVS, KOverlap, Penalty, SmoothedL0, get_penalty

PENALTIES = [
    L1(),
    STVS(gamma=0.5),
    STVS(gamma=2.0),
    SmoothedL0(sigma=0.7),
    KOverlap(k=1),
    KOverlap(k=2),
    KOverlap(k=3),
    KOverlap(k=10),  # k > d is clipped to d
]
IDS = [repr(p) for p in PENALTIES]


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _topk_l2_sq(u: torch.Tensor, k: int) -> torch.Tensor:
    """Squared dual norm of the k-support norm: sum of the k largest u_i**2."""
    return torch.topk(u**2, min(k, u.shape[-1]), dim=-1).values.sum(-1)


# ----------------------------------------------------------------------------- hand-computed values
def test_l1_by_hand():
    z = torch.tensor([[1.0, -2.0, 0.0, 3.5], [-0.25, 0.25, 0.0, 0.0]])
    torch.testing.assert_close(L1()(z), torch.tensor([6.5, 0.5]))


def test_stvs_by_hand():
    # gamma = 2: |z|/(2γ) = 3/4 gives σ = asinh(3/4) = log(3/4 + 5/4) = log 2, and
    # |z|/(2γ) = 4/3 gives σ = log(4/3 + 5/3) = log 3; τ_i = γ²(σ + 1/2 − e^{−2σ}/2).
    z = torch.tensor([[3.0, -16.0 / 3.0, 0.0]], dtype=torch.float64)
    expected = 4.0 * (math.log(2) + 0.5 - 0.5 / 4) + 4.0 * (math.log(3) + 0.5 - 0.5 / 9)
    torch.testing.assert_close(STVS(gamma=2.0)(z), torch.tensor([expected], dtype=torch.float64))


def test_smoothed_l0_by_hand():
    sigma = 0.5
    # z² / (2σ²) = log 2 -> contributes 1/2; = log 4 -> contributes 3/4; z = 0 -> 0
    a = sigma * math.sqrt(2 * math.log(2))
    b = sigma * math.sqrt(2 * math.log(4))
    z = torch.tensor([[a, -b, 0.0], [100.0, -100.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(SmoothedL0(sigma=sigma)(z), torch.tensor([1.25, 2.0], dtype=torch.float64))


@pytest.mark.parametrize(
    ("z", "k", "expected"),
    [
        # |z|↓ = (3, 1, .5, .5); r = 0: 3 > 1+.5+.5 = 2 >= 1, so ½(3² + 2²) = 6.5
        ([0.5, -3.0, 1.0, 0.5], 2, 6.5),
        # |z|↓ = (1, .9, .8, .7); r = 0 fails (1 > 2.4 is false); r = 1: 3.4/2 = 1.7 >= 1,
        # so ½ · 3.4² / 2 = 2.89
        ([1.0, -0.9, 0.8, -0.7], 2, 2.89),
        # k = 3, |z|↓ = (5, 1.2, 1, .6); r = 0 fails (1.2 > 1.6 is false); r = 1: 5 > 2.8/2 = 1.4 >= 1.2,
        # so ½ (5² + 2.8² / 2) = 14.46
        ([5.0, -1.2, 1.0, 0.6], 3, 14.46),
    ],
)
def test_k_overlap_by_hand(z, k, expected):
    out = KOverlap(k=k)(torch.tensor([z], dtype=torch.float64))
    torch.testing.assert_close(out, torch.tensor([expected], dtype=torch.float64))


# ------------------------------------------------------------------------------------ gradients
# rows with non-zero, distinct magnitudes and clear margins in the k-overlap case analysis
_SMOOTH_POINTS = [[3.0, -1.2, 0.7, -0.4], [1.0, -0.9, 0.8, -0.7], [-0.5, 2.5, 0.3, -0.9]]


@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
def test_gradcheck(penalty: Penalty):
    z = torch.tensor(_SMOOTH_POINTS, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(penalty, (z,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_stvs_gradient_closed_form(gamma):
    # dτ/dz_i = γ sign(z_i) e^{−σ_i}  (derivative of γ²(σ + ½ − ½e^{−2σ}) with dσ/d|z| = 1/(2γ cosh σ))
    z = torch.tensor(_SMOOTH_POINTS, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(STVS(gamma=gamma)(z).sum(), z)
    sigma = torch.asinh(z.detach().abs() / (2 * gamma))
    torch.testing.assert_close(grad, gamma * torch.sign(z.detach()) * torch.exp(-sigma))


# ------------------------------------------------------------------------------------- axioms
@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (4, 5), (7, 3)])
def test_zero_at_zero_and_shape(penalty: Penalty, shape):
    out = penalty(torch.zeros(shape, dtype=torch.float64))
    assert out.shape == (shape[0],)
    assert out.dtype == torch.float64
    assert torch.equal(out, torch.zeros(shape[0], dtype=torch.float64))


@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
def test_nonnegative_and_positive_off_zero(penalty: Penalty):
    z = 3.0 * _randn(50, 6, seed=1)
    out = penalty(z)
    assert out.shape == (50,)
    assert (out > 0).all()


@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
def test_sign_flip_symmetry(penalty: Penalty):
    z = _randn(20, 6, seed=2)
    gen = torch.Generator().manual_seed(3)
    signs = torch.randint(0, 2, z.shape, generator=gen).to(z.dtype) * 2 - 1
    torch.testing.assert_close(penalty(z * signs), penalty(z))
    torch.testing.assert_close(penalty(-z), penalty(z))


@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
def test_permutation_symmetry(penalty: Penalty):
    z = _randn(20, 6, seed=4)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        perm = torch.randperm(6, generator=gen)
        torch.testing.assert_close(penalty(z[:, perm]), penalty(z))


@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
def test_rows_are_independent(penalty: Penalty):
    z = _randn(8, 5, seed=6)
    full = penalty(z)
    rows = torch.cat([penalty(z[i : i + 1]) for i in range(8)])
    torch.testing.assert_close(full, rows)


@pytest.mark.parametrize("penalty", PENALTIES, ids=IDS)
def test_coordinate_wise_monotone(penalty: Penalty):
    # growing one |z_i| never lowers the penalty
    z = _randn(30, 5, seed=7)
    bigger = z.clone()
    bigger[:, 2] = bigger[:, 2] * 1.5
    assert (penalty(bigger) >= penalty(z) - 1e-12).all()


# ------------------------------------------------------------------------------- STVS asymptotics
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_stvs_near_zero_is_gamma_l1(gamma):
    # τ = γ²(2σ − σ² + O(σ³)) with 2σ ≈ |z|/γ: relative error ≈ |z| / (4γ) = 2.5e-4 here
    z = torch.tensor([[1e-3 * gamma, -1e-3 * gamma]], dtype=torch.float64)
    expected = gamma * z.abs().sum(-1)
    torch.testing.assert_close(STVS(gamma=gamma)(z), expected, rtol=1e-3, atol=0)
    assert not torch.allclose(STVS(gamma=gamma)(z), expected, rtol=1e-6, atol=0)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_stvs_grows_logarithmically(gamma):
    # for |z| >> γ: σ = asinh(|z|/2γ) ≈ log(|z|/γ) and e^{−2σ} ≈ 0, so τ ≈ γ²(log(|z|/γ) + ½)
    pen = STVS(gamma=gamma)
    for scale in (1e4, 1e6):
        z = torch.tensor([[scale * gamma]], dtype=torch.float64)
        expected = gamma**2 * (math.log(scale) + 0.5)
        assert pen(z).item() == pytest.approx(expected, rel=1e-6)
    # doubling a large displacement adds only γ² log 2
    z = torch.tensor([[1e4 * gamma]], dtype=torch.float64)
    assert (pen(2 * z) - pen(z)).item() == pytest.approx(gamma**2 * math.log(2), rel=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_stvs_below_gamma_l1(gamma):
    # the slope γ e^{−σ} never exceeds γ, so τ(z) <= γ ||z||_1
    z = 5 * _randn(100, 4, seed=8)
    assert (STVS(gamma=gamma)(z) <= gamma * z.abs().sum(-1) + 1e-12).all()


# -------------------------------------------------------------------------------- k-overlap theory
@pytest.mark.parametrize("d", [1, 3, 6])
def test_k_overlap_k1_is_half_squared_l1(d):
    z = _randn(40, d, seed=9)
    torch.testing.assert_close(KOverlap(k=1)(z), 0.5 * z.abs().sum(-1) ** 2)


@pytest.mark.parametrize("d", [1, 3, 6])
@pytest.mark.parametrize("extra", [0, 4])
def test_k_overlap_kd_is_half_squared_l2(d, extra):
    z = _randn(40, d, seed=10)
    torch.testing.assert_close(KOverlap(k=d + extra)(z), 0.5 * (z**2).sum(-1))


def test_k_overlap_kd_with_tied_magnitudes():
    # ½||z||² = ½(3 · 0.49 + 1.96) = 1.715
    z = torch.tensor([[0.7, 0.7, 0.7, 1.4]], dtype=torch.float64)
    torch.testing.assert_close(KOverlap(k=4)(z), 0.5 * (z**2).sum(-1))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_k_overlap_fenchel_young(k):
    # ½||·||² of a norm and ½||·||_*² of its dual norm are conjugate; the dual of the k-support norm
    # is the ℓ2 norm of the k largest entries. Hence <w, u> − ½||u||_*² <= τ(w) for every u, with
    # equality at u = ∇τ(w).
    pen = KOverlap(k=k)
    w = _randn(25, 6, seed=11).requires_grad_(True)
    tau = pen(w)
    (u_star,) = torch.autograd.grad(tau.sum(), w)
    w = w.detach()
    tau = tau.detach()
    torch.testing.assert_close((w * u_star).sum(-1) - 0.5 * _topk_l2_sq(u_star, k), tau)
    for seed in range(5):
        u = 2 * _randn(25, 6, seed=100 + seed)
        assert ((w * u).sum(-1) - 0.5 * _topk_l2_sq(u, k) <= tau + 1e-10).all()


def test_k_overlap_between_l2_and_l1_and_decreasing_in_k():
    z = _randn(40, 6, seed=12)
    values = torch.stack([KOverlap(k=k)(z) for k in range(1, 7)])  # (6, n)
    assert (values[:-1] >= values[1:] - 1e-12).all()
    assert (values <= 0.5 * z.abs().sum(-1) ** 2 + 1e-12).all()
    assert (values >= 0.5 * (z**2).sum(-1) - 1e-12).all()


@pytest.mark.parametrize("penalty", [L1(), KOverlap(k=2)], ids=repr)
@pytest.mark.parametrize("c", [0.5, 3.0])
def test_homogeneity(penalty: Penalty, c):
    z = _randn(10, 5, seed=13)
    degree = 1 if isinstance(penalty, L1) else 2
    torch.testing.assert_close(penalty(c * z), c**degree * penalty(z))


def _prox_by_gradient_descent(
    penalty: Penalty, v: torch.Tensor, lam: float, steps: int = 800
) -> torch.Tensor:
    z = v.clone().requires_grad_(True)
    for i in range(steps):
        lr = 0.05 * (1 - i / steps)  # decaying steps damp the oscillation at the kinks
        loss = 0.5 * ((z - v) ** 2).sum() + lam * penalty(z[None])[0]
        (grad,) = torch.autograd.grad(loss, z)
        with torch.no_grad():
            z -= lr * grad
    return z.detach()


def test_k_overlap_sparsifies():
    # Minimiser of ½||z − v||² + λ·½||z||_sp² for k = 2, λ = ½ and v = (4, 3, 2, 1, .5, .25, .1, .05),
    # by hand: with r = 0 the head is z_1 = v_1/(1+λ) = 8/3; the non-zero tail entries satisfy
    # z_i = v_i − λT where T = Σ tail, so T(1 + 2λ) = 3 + 2 gives T = 2.5, λT = 1.25,
    # z_2 = 1.75, z_3 = 0.75; every v_i <= λT = 1.25 is set to 0. Check: 8/3 > T = 2.5 >= 1.75.
    v = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.05], dtype=torch.float64)
    pen = KOverlap(k=2)
    z0 = _prox_by_gradient_descent(pen, v, lam=0.0)
    z = _prox_by_gradient_descent(pen, v, lam=0.5)
    threshold = 0.02
    assert int((z0.abs() < threshold).sum()) == 0
    assert int((z.abs() < threshold).sum()) == 5
    expected = torch.tensor([8 / 3, 1.75, 0.75, 0, 0, 0, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(z, expected, atol=0.03, rtol=0)


# --------------------------------------------------------------------------------- get_penalty
@pytest.mark.parametrize(
    ("name", "cls"), [("l1", L1), ("stvs", STVS), ("l0", SmoothedL0), ("k_overlap", KOverlap)]
)
def test_get_penalty_names(name, cls):
    pen = get_penalty(name)
    assert type(pen) is cls
    assert pen.name == name


def test_get_penalty_params():
    assert get_penalty("stvs", gamma=0.3).gamma == 0.3
    assert get_penalty("l0", sigma=2.0).sigma == 2.0
    assert get_penalty("k_overlap", k=4).k == 4


def test_get_penalty_instance_passthrough():
    pen = STVS(gamma=0.25)
    assert get_penalty(pen) is pen


def test_get_penalty_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="Unknown penalty 'lasso'") as info:
        get_penalty("lasso")
    for name in ("l1", "stvs", "l0", "k_overlap"):
        assert repr(name) in str(info.value)


@pytest.mark.parametrize(
    ("name", "params", "error"),
    [
        ("stvs", {"gamma": -1.0}, ValueError),
        ("stvs", {"gamma": 0.0}, ValueError),
        ("stvs", {"gamma": float("nan")}, ValueError),
        ("stvs", {"gamma": float("inf")}, ValueError),
        ("stvs", {"gamma": "big"}, ValueError),
        ("l0", {"sigma": -0.1}, ValueError),
        ("k_overlap", {"k": 0}, ValueError),
        ("k_overlap", {"k": 2.5}, ValueError),
        ("l1", {"gamma": 1.0}, TypeError),
        ("stvs", {"sigma": 1.0}, TypeError),
    ],
)
def test_get_penalty_bad_params(name, params, error):
    with pytest.raises(error):
        get_penalty(name, **params)


def test_penalties_are_frozen():
    pen = STVS(gamma=1.0)
    with pytest.raises(AttributeError):
        pen.gamma = 2.0  # type: ignore[misc]


def test_numpy_scalar_parameters_accepted():
    assert STVS(gamma=np.float32(0.5)).gamma == pytest.approx(0.5)
    assert SmoothedL0(sigma=np.int64(2)).sigma == 2


# ------------------------------------------------------------------------- numpy evaluation (baselines)
@pytest.mark.parametrize("penalty", [L1(), STVS(gamma=0.5), STVS(gamma=2.0), SmoothedL0(sigma=0.7)], ids=repr)
def test_numpy_value_matches_torch_call(penalty: Penalty):
    z = _randn(6, 4, seed=3)
    # the same formula; numpy's and torch's elementary functions may differ in the last bit
    np.testing.assert_allclose(penalty.value(z.numpy()), penalty(z).numpy(), rtol=1e-12)
    np.testing.assert_allclose(penalty.value(z.numpy(), weight=0.3), 0.3 * penalty(z).numpy(), rtol=1e-12)


def test_smoothed_l0_numpy_gradient_matches_autograd():
    penalty = SmoothedL0(sigma=0.7)
    z = _randn(5, 3, seed=4).requires_grad_(True)
    penalty(z).sum().backward()
    value, grad = penalty.value_and_grad(z.detach().numpy())
    np.testing.assert_array_equal(value, penalty.value(z.detach().numpy()))
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-12)


def test_k_overlap_has_no_numpy_value():
    with pytest.raises(NotImplementedError, match="KOverlap has no numpy evaluation"):
        KOverlap(k=2).value(np.ones((2, 3)))
