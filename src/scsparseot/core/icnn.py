"""Input-convex neural networks (Amos et al. 2017) used as Brenier potentials.

A potential is ``φ(x) = ½ Σ_i a_i x_i² + b·x + h(x)`` where ``h`` is an ICNN whose hidden-to-hidden
weights are non-negative and whose activations are convex and non-decreasing, and ``a ≥ 0``. Then
``φ`` is convex and its gradient ``∇φ`` is a Monge map (Brenier's theorem).

The separable quadratic part makes two things cheap:

* a closed-form warm start: ``a`` and ``b`` set to the gene-wise (diagonal) Gaussian OT map, and the
  output layer of ``h`` set to zero, so that training starts at that map rather than at random;
* the displacement of gene ``i`` is ``(a_i − 1) x_i + b_i + ∂h/∂x_i``, exactly zero when ``a_i = 1``,
  ``b_i = 0`` and gene ``i``'s input columns in ``h`` vanish.

Convexity is kept by projection: :meth:`ICNN.project` clamps the constrained weights after every
optimiser step (for both potentials), which keeps the network exactly convex at all times.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ACTIVATIONS", "ICNN"]

ACTIVATIONS = {
    "softplus": F.softplus,
    "celu": lambda t: F.celu(t) + 1.0,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
}


class ICNN(nn.Module):
    """Convex potential ``φ(x) = ½ Σ a_i x_i² + b·x + h(x)`` with an input-convex network ``h``.

    Parameters
    ----------
    dim
        Input dimension (number of genes).
    hidden
        Widths of the hidden layers of ``h``.
    activation
        Convex, non-decreasing activation: ``"softplus"`` (default, smooth map), ``"celu"`` or
        ``"leaky_relu"`` (slope 0.2, as in the reference implementation).
    init_scale
        Scale of the random input weights of ``h``.

    Examples
    --------
    >>> import torch
    >>> from scsparseot.core import ICNN
    >>> g = ICNN(3, hidden=(8, 8))
    >>> x = torch.randn(5, 3)
    >>> torch.allclose(g.transport(x), x)  # starts at the identity map
    True
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (64, 64, 64, 64),
        *,
        activation: str = "softplus",
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if dim < 1 or not hidden or any(h < 1 for h in hidden):
            msg = (
                f"ICNN needs dim >= 1 and at least one positive hidden width, got dim={dim}, hidden={hidden}."
            )
            raise ValueError(msg)
        if activation not in ACTIVATIONS:  # checked here so TrainConfig errors name the choices too
            msg = f"Unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}."
            raise ValueError(msg)
        self.dim = int(dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self._act = ACTIVATIONS[activation]
        # separable quadratic + linear part (the diagonal Gaussian map)
        self.quad = nn.Parameter(torch.ones(dim))
        self.lin = nn.Parameter(torch.zeros(dim))
        # input-to-hidden ("skip") layers, unconstrained
        self.inputs = nn.ModuleList(nn.Linear(dim, h) for h in self.hidden)
        # hidden-to-hidden layers, non-negative weights
        self.hiddens = nn.ModuleList(
            nn.Linear(h_in, h_out, bias=False)
            for h_in, h_out in zip(self.hidden[:-1], self.hidden[1:], strict=True)
        )
        self.out = nn.Linear(self.hidden[-1], 1, bias=False)  # non-negative
        with torch.no_grad():
            for layer in self.inputs:
                nn.init.normal_(layer.weight, std=init_scale / math.sqrt(dim))
                nn.init.zeros_(layer.bias)
            for layer in self.hiddens:
                nn.init.uniform_(layer.weight, 0.0, 2.0 / layer.in_features)
            nn.init.zeros_(self.out.weight)  # h contributes nothing at the start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Potential value of each row of ``x``, shape ``(n,)``."""
        z = self._act(self.inputs[0](x))
        for w_z, w_x in zip(self.hiddens, self.inputs[1:], strict=True):
            z = self._act(w_z(z) + w_x(x))
        h = self.out(z)[..., 0]
        return 0.5 * (self.quad * x * x).sum(-1) + (self.lin * x).sum(-1) + h

    def transport(self, x: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
        """Gradient map ``∇φ(x)``, row by row.

        Parameters
        ----------
        x
            Points, shape ``(n, dim)``.
        create_graph
            Keep the graph so that a loss on the output can be differentiated with respect to the
            network's parameters (training); ``False`` for inference.
        """
        with torch.enable_grad():
            xg = x if (x.requires_grad and create_graph) else x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self(xg).sum(), xg, create_graph=create_graph)
        return grad

    @torch.no_grad()
    def project(self) -> None:
        """Clamp the constrained weights (``a`` and hidden-to-hidden/output weights) to be ≥ 0."""
        self.quad.clamp_(min=0.0)
        for layer in self.hiddens:
            layer.weight.clamp_(min=0.0)
        self.out.weight.clamp_(min=0.0)

    @torch.no_grad()
    def set_diagonal_map(self, quad: torch.Tensor, lin: torch.Tensor) -> None:
        """Set the separable part so that ``∇φ(x) = quad ⊙ x + lin + ∇h(x)``."""
        self.quad.copy_(quad.clamp(min=0.0))
        self.lin.copy_(lin)

    def gene_weights(self) -> torch.Tensor:
        """Per-gene norm of the parameters through which gene ``i`` can move, shape ``(dim,)``.

        When it is zero, gene ``i`` is left in place by the map for every cell (the converse does not
        hold: a fresh network is the identity map yet has non-zero input weights).
        """
        cols = torch.cat([layer.weight for layer in self.inputs], 0)  # (sum(hidden), dim)
        return torch.sqrt((cols**2).sum(0) + (self.quad - 1.0) ** 2 + self.lin**2)

    def is_convex(self) -> bool:
        """Whether all constrained weights are non-negative."""
        ws = [self.quad, self.out.weight, *(layer.weight for layer in self.hiddens)]
        return all(bool((w >= 0).all()) for w in ws)
