r"""RGD baseline of the DisNOT paper: gradient descent on exact-OT displacements towards a dimension budget.

Starting from the displacements ``D0 = T_exact(x) − x`` of the exact-OT barycentric map
(:func:`~scsparseot.baselines.exact_ot_map`), RGD minimises

.. math::

    L(D) = \frac1n \sum_i \max\big(0,\ \ell_{0,\sigma}(D_i) - l\big)
           + \frac{\beta}{n} \|D - D_0\|_F^2,
    \qquad \ell_{0,\sigma}(z) = \sum_k 1 - e^{-z_k^2 / (2\sigma^2)},

and returns ``x + D`` (``ℓ_{0,σ}`` is :class:`~scsparseot.core.SmoothedL0`). It only looks at the
displacements: the map it returns is no longer an OT map, and moving away from ``D0`` costs nothing
beyond the β term (the target distribution is not consulted again), which is why it reaches the
dimension budget easily but not faithfully.
"""

from __future__ import annotations

import logging

import numpy as np

from .._checks import check_int, check_number
from ..core._scale import median_positive_sd
from ..core.penalties import SmoothedL0
from ._checks import check_pair
from .exact import exact_ot_map

__all__ = ["rgd_map"]

logger = logging.getLogger(__name__)

#: Default σ of the smoothed ℓ0 as a fraction of the median per-gene standard deviation of ``x``.
_SIGMA_FRACTION = 0.1


def rgd_map(
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_genes: float,
    beta: float = 1.0,
    sigma: float | None = None,
    lr: float | None = None,
    n_iters: int = 500,
    seed: int = 0,
) -> np.ndarray:
    r"""Exact-OT map whose displacements are pushed by gradient descent to ``max_genes`` genes per cell.

    Minimises :math:`L(D)` of the module docstring (smoothed-ℓ0 excess over ``max_genes`` per cell
    plus ``β‖D − D0‖²``, both averaged over cells) by full-batch gradient descent in float64
    (closed-form gradient, numpy),
    starting at ``D = D0``, the exact-OT barycentric displacements. The objective separates over
    cells, so the step is taken on the per-cell objective (the gradient of :math:`L` times ``n``)
    and ``lr`` means the same at any number of cells.

    Parameters
    ----------
    x
        Source (control) cells, shape ``(n, n_genes)``, data units.
    y
        Target (treated) cells, shape ``(m, n_genes)``.
    max_genes
        Budget ``l ≥ 0`` (the :math:`l` of :math:`L(D)`) on the smoothed number of moved genes per
        cell; cells at or below it feel only the β term.
    beta
        Weight ``β ≥ 0`` of the squared distance to the exact-OT displacements. Larger stays closer
        to exact OT and further above the budget.
    sigma
        Width σ > 0 of the smoothed ℓ0, in data units: a displacement ``|z| ≪ σ`` counts as 0 and
        ``|z| ≫ σ`` as 1. Default: 0.1 × the median over genes of the standard deviation of ``x``
        (the scale of :func:`~scsparseot.core.default_support_tol`). The gradient of the smoothed
        ℓ0 vanishes for ``|z| ≫ σ``, so exact-OT displacements much larger than σ are never
        shrunk; on unpaired data with large matching noise pass a larger σ.
    lr
        Step size on the per-cell objective. Default: ``0.5 / (1/σ² + 2β)``, half the inverse of a
        bound on the curvature, which is stable for any data scale.
    n_iters
        Number of gradient steps.
    seed
        Accepted for a uniform signature with the stochastic fits; the full-batch descent is
        deterministic and does not use it.

    Returns
    -------
    numpy.ndarray
        ``x + D``, shape ``(n, n_genes)``, float32.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is invalid (as in :func:`~scsparseot.baselines.exact_ot_map`), or
        ``max_genes``/``beta`` is negative or not finite, ``sigma``/``lr`` is not positive and finite,
        ``n_iters < 0``, or ``seed`` is not an integer.
    RuntimeError
        If the exact-OT solver fails (see :func:`~scsparseot.baselines.exact_ot_map`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 6))
    >>> y = x[rng.permutation(50)] + rng.normal(scale=0.1, size=(50, 6)) + [3.0, 0, 0, 0, 0, 0]
    >>> delta = rgd_map(x, y, max_genes=1) - x
    >>> bool(np.abs(delta[:, 0]).mean() > 2.5)
    True
    """
    x, y = check_pair(x, y)
    max_genes = check_number("max_genes", max_genes, low=0)
    beta = check_number("beta", beta, low=0)
    if sigma is None:
        sigma = _SIGMA_FRACTION * median_positive_sd(x.std(0))
    sigma = check_number("sigma", sigma, low=0, low_open=True)
    if lr is None:
        lr = 0.5 / (1.0 / sigma**2 + 2.0 * beta)
    lr = check_number("lr", lr, low=0, low_open=True)
    check_int("n_iters", n_iters, 0, expected="a non-negative integer")
    check_int("seed", seed)

    d0 = exact_ot_map(x, y).astype(np.float64) - x
    delta = d0.copy()
    l0 = SmoothedL0(sigma=sigma)
    for _ in range(int(n_iters)):
        # gradient of the per-cell objective (n · L), so the step does not depend on n
        dim, grad_l0 = l0.value_and_grad(delta)
        over = dim[:, None] > max_genes  # hinge active
        grad = np.where(over, grad_l0, 0.0) + 2.0 * beta * (delta - d0)
        delta -= lr * grad
    dim = l0.value(delta)
    logger.info(
        "RGD map: %d cells, smoothed-l0 dimension %.2f (budget %.3g, sigma=%.3g, beta=%.3g, %d steps)",
        x.shape[0],
        float(dim.mean()),
        max_genes,
        sigma,
        beta,
        n_iters,
    )
    return (x + delta).astype(np.float32)
