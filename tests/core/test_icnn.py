"""ICNN potentials: convexity (segments, Hessian), initial identity map, projection, gene weights."""

from __future__ import annotations

import pytest
import torch

from scsparseot.core import ICNN

ACTIVATIONS = ["softplus", "celu", "leaky_relu"]


def _make(dim: int, hidden=(8, 8), *, seed: int = 0, activation: str = "softplus") -> ICNN:
    """A float64 ICNN built from a seeded RNG, leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ICNN(dim, hidden=hidden, activation=activation).double()


@torch.no_grad()
def _randomise(model: ICNN, seed: int) -> None:
    """Overwrite every parameter with N(0, 1) draws (negative entries included)."""
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _x(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("hidden", [(8,), (8, 6, 4)])
def test_convex_along_segments(activation, hidden):
    model = _make(5, hidden, activation=activation)
    _randomise(model, seed=1)
    model.project()
    a, b = 2 * _x(200, 5, seed=2), 2 * _x(200, 5, seed=3)
    with torch.no_grad():
        fa, fb = model(a), model(b)
        for t in torch.linspace(0.05, 0.95, 7, dtype=torch.float64):
            lhs = model(t * a + (1 - t) * b)
            rhs = t * fa + (1 - t) * fb
            assert (lhs <= rhs + 1e-9 * (1 + rhs.abs())).all()


def test_unprojected_network_can_be_non_convex():
    # the same check is not vacuous: with negative quadratic and output weights φ is concave somewhere
    model = _make(5, (8, 8))
    _randomise(model, seed=1)
    with torch.no_grad():
        model.quad.fill_(-1.0)
    assert not model.is_convex()
    a, b = 2 * _x(200, 5, seed=2), 2 * _x(200, 5, seed=3)
    with torch.no_grad():
        mid = model(0.5 * a + 0.5 * b)
        chord = 0.5 * model(a) + 0.5 * model(b)
    assert (mid > chord).any()


@pytest.mark.parametrize("activation", ["softplus", "celu"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hessian_psd(activation, seed):
    dim = 4
    model = _make(dim, (6, 6), seed=seed, activation=activation)
    _randomise(model, seed=10 + seed)
    model.project()
    for i, x0 in enumerate(_x(5, dim, seed=20 + seed)):
        hess = torch.autograd.functional.hessian(lambda v: model(v[None])[0], x0)
        assert hess.shape == (dim, dim)
        torch.testing.assert_close(hess, hess.T)
        eig = torch.linalg.eigvalsh(hess)
        assert eig.min() >= -1e-10, (i, eig)


def test_hessian_of_diagonal_part_is_diag_quad():
    # with h switched off (zero output layer, as at initialisation) ∇²φ = diag(a)
    model = _make(3, (4,))
    quad = torch.tensor([0.5, 2.0, 0.0], dtype=torch.float64)
    model.set_diagonal_map(quad, torch.zeros(3, dtype=torch.float64))
    hess = torch.autograd.functional.hessian(lambda v: model(v[None])[0], _x(1, 3)[0])
    torch.testing.assert_close(hess, torch.diag(quad))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_starts_at_identity(activation):
    model = _make(6, (8, 8), activation=activation)
    x = _x(30, 6)
    torch.testing.assert_close(model.transport(x), x, rtol=0, atol=1e-12)
    assert model.is_convex()


def test_transport_shape_and_no_graph():
    model = _make(3, (4,))
    x = _x(7, 3)
    out = model.transport(x)
    assert out.shape == (7, 3)
    assert not out.requires_grad
    assert model(x).shape == (7,)


def test_transport_is_gradient_of_potential():
    model = _make(4, (8, 8))
    _randomise(model, seed=3)
    model.project()
    x = _x(10, 4).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x).sum(), x)
    torch.testing.assert_close(model.transport(x.detach()), grad)


def test_transport_create_graph_differentiable_in_parameters():
    model = _make(3, (4,))
    _randomise(model, seed=4)
    model.project()
    tx = model.transport(_x(5, 3), create_graph=True)
    tx.sum().backward()
    assert model.quad.grad is not None
    torch.testing.assert_close(model.quad.grad, _x(5, 3).sum(0))  # d/dquad_i Σ quad_i x_i = Σ x_i


def test_set_diagonal_map():
    model = _make(3, (5, 5))
    a = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64)
    b = torch.tensor([-1.0, 3.0, 0.25], dtype=torch.float64)
    model.set_diagonal_map(a, b)
    x = _x(20, 3)
    torch.testing.assert_close(model.transport(x), a * x + b)


def test_set_diagonal_map_clamps_negative_scale():
    model = _make(2, (4,))
    model.set_diagonal_map(torch.tensor([-3.0, 2.0]), torch.zeros(2))
    torch.testing.assert_close(model.quad.detach(), torch.tensor([0.0, 2.0], dtype=torch.float64))
    assert model.is_convex()


def test_project_clamps_only_constrained_weights():
    model = _make(4, (6, 5, 3))
    _randomise(model, seed=5)
    assert not model.is_convex()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.project()
    assert model.is_convex()
    constrained = {"quad", "out.weight"} | {f"hiddens.{i}.weight" for i in range(len(model.hiddens))}
    for name, p in model.named_parameters():
        old = before[name]
        if name in constrained:
            torch.testing.assert_close(p.detach(), old.clamp(min=0.0))
            assert (old < 0).any(), name  # the randomisation did produce negatives to clamp
        else:
            torch.testing.assert_close(p.detach(), old)  # lin, input layers: untouched


def test_is_convex_detects_each_constrained_weight():
    for attr in ("quad", "out", "hidden"):
        model = _make(3, (4, 4))
        assert model.is_convex()
        with torch.no_grad():
            if attr == "quad":
                model.quad[1] = -0.1
            elif attr == "out":
                model.out.weight[0, 2] = -0.1
            else:
                model.hiddens[0].weight[1, 1] = -0.1
        assert not model.is_convex(), attr


def test_gene_weights_zero_for_untouched_gene():
    model = _make(5, (8, 8))
    _randomise(model, seed=6)
    model.project()
    gene = 2
    with torch.no_grad():
        for layer in model.inputs:
            layer.weight[:, gene] = 0.0
        model.quad[gene] = 1.0
        model.lin[gene] = 0.0
    w = model.gene_weights()
    assert w.shape == (5,)
    assert w[gene].item() == 0.0
    others = torch.cat([w[:gene], w[gene + 1 :]])
    assert (others > 0).all()
    # and the gene is indeed left in place for every cell, while others move
    x = 3 * _x(50, 5)
    tx = model.transport(x)
    torch.testing.assert_close(tx[:, gene], x[:, gene], rtol=0, atol=1e-12)
    assert (tx[:, 0] - x[:, 0]).abs().max() > 1e-3


def test_gene_weights_closed_form():
    model = _make(2, (3,))
    with torch.no_grad():
        model.inputs[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 0.0], [4.0, 0.0]]))
        model.quad.copy_(torch.tensor([1.0, 3.0]))
        model.lin.copy_(torch.tensor([0.0, -1.0]))
    # gene 0: sqrt(3² + 4²) = 5; gene 1: sqrt((3 − 1)² + (−1)²) = sqrt 5
    torch.testing.assert_close(
        model.gene_weights().detach(), torch.tensor([5.0, 5.0**0.5], dtype=torch.float64)
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0,), {}),
        ((-1,), {}),
        ((3,), {"hidden": ()}),
        ((3,), {"hidden": (4, 0)}),
        ((3,), {"hidden": (-2,)}),
        ((3,), {"activation": "relu"}),
    ],
)
def test_bad_args(args, kwargs):
    with pytest.raises(ValueError):
        ICNN(*args, **kwargs)


def test_attributes_recorded():
    model = ICNN(3, hidden=[4, 5], activation="celu")
    assert model.dim == 3
    assert model.hidden == (4, 5)
    assert model.activation == "celu"
    assert len(model.inputs) == 2
    assert len(model.hiddens) == 1
