r"""Entropic elastic Monge map of Cuturi, Klein & Ablin (ICML 2023, "Monge, Bregman and Occam").

The map uses the translation-invariant cost ``c(x, y) = h(x − y)`` with the *elastic* function
``h(z) = ½‖z‖² + λ τ(z)`` (``τ`` = ℓ1 or STVS, ``λ`` = ``strength``). For a strictly convex ``h``
the Gangbo–McCann map of a potential ``f`` is ``T(x) = x − ∇h*(∇f(x))``, and
``∇h* = (∇h)⁻¹ = prox_{λτ}`` because ``∇h = Id + λ∇τ``. Plugging in the entropic potential
``f(x) = −ε log Σ_j b_j exp((g_j − h(x − y_j)) / ε)`` (the c-transform of the Sinkhorn dual
potential ``g``) gives

.. math::

    T(x) = x - \operatorname{prox}_{\lambda\tau}\Big(\sum_j p_j(x)\,\nabla h(x - y_j)\Big)
         = x - \operatorname{prox}_{\lambda\tau}\Big(x - \sum_j p_j(x)
           \big(y_j - \lambda\nabla\tau(x - y_j)\big)\Big),
    \qquad p_j(x) \propto b_j\, e^{(g_j - h(x - y_j))/\varepsilon},

which is what ott-jax computes with ``DualPotentials.transport`` for a ``RegTICost``
(``ott/problems/linear/potentials.py``, ``ott/geometry/costs.py``: ``h_legendre`` uses
``prox_reg``). The displacement ``T(x) − x = −prox_{λτ}(·)`` has exact zeros wherever the prox
thresholds, which is the point of the method.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Literal

import numpy as np
import ot

from .._checks import check_choice, check_int, check_number
from .._warnings import find_stack_level
from ..core._scale import median_positive_sd
from ..core.penalties import STVS
from ._checks import check_pair, check_support_tol
from .exact import soft_threshold

__all__ = ["elastic_map", "soft_threshold", "stvs_grad", "stvs_prox"]

logger = logging.getLogger(__name__)

ElasticPenalty = Literal["stvs", "l1"]

#: Default entropic regularisation ε as a fraction of the median entry of the cost matrix.
_REG_FRACTION = 0.05
#: Sinkhorn stops when the L2 violation of the target marginal is below this fraction of ‖b‖₂.
_SINKHORN_RTOL = 1e-4
#: Largest number of entries of the ``(rows, m, d)`` difference block built at once.
_BLOCK_ENTRIES = 2**22
#: ``h = ½‖·‖² + λ·STVS_γ`` is convex exactly when ``λ ≤ 2`` (STVS'' ≥ −½); above, no Brenier map.
_STVS_MAX_STRENGTH = 2.0


def stvs_grad(z: np.ndarray, gamma: float) -> np.ndarray:
    """Derivative of the STVS penalty of scale ``gamma``, coordinate-wise (:meth:`~scsparseot.core.STVS.grad`).

    Examples
    --------
    >>> import numpy as np
    >>> stvs_grad(np.array([-1.5, 0.0, 1.5]), 1.0)
    array([-0.5,  0. ,  0.5])
    """
    return STVS(gamma=gamma).grad(z)


def stvs_prox(z: np.ndarray, strength: float, gamma: float) -> np.ndarray:
    """Proximal operator of ``strength · STVS_γ`` in closed form (:meth:`~scsparseot.core.STVS.prox`).

    Examples
    --------
    >>> import numpy as np
    >>> stvs_prox(np.array([-2.0, 0.5, 1.0, 4.0]), 1.0, 1.0)
    array([-1.5 ,  0.  ,  0.  ,  3.75])
    """
    strength = _check_strength("stvs", strength)
    return STVS(gamma=_check_positive("gamma", gamma)).prox(z, strength)


def elastic_map(
    x: np.ndarray,
    y: np.ndarray,
    *,
    penalty: ElasticPenalty = "stvs",
    reg: float | None = None,
    strength: float = 1.0,
    gamma: float | None = None,
    n_iter_sinkhorn: int = 2000,
    support_tol: float | np.ndarray | None = None,
) -> np.ndarray:
    r"""Entropic elastic Monge map of Cuturi, Klein & Ablin (2023), evaluated on the source cells.

    Solves entropic OT (log-domain :func:`ot.bregman.sinkhorn_log`, uniform weights) with the elastic cost
    ``C_ij = h(x_i − y_j)``, ``h(z) = ½‖z‖² + λ τ(z)``, then maps each source cell with

    .. math::
        T(x) = x - \operatorname{prox}_{\lambda\tau}\Big(x - \sum_j p_j(x)
               \big(y_j - \lambda\nabla\tau(x - y_j)\big)\Big),
        \qquad p_j(x) \propto e^{(g_j - h(x - y_j))/\varepsilon},

    where ``g`` is the Sinkhorn dual potential of the target (module docstring for the
    derivation). As ``λ → 0`` and ``ε → 0`` this is the exact-OT barycentric map
    (:func:`~scsparseot.baselines.exact_ot_map`); larger ``λ`` gives sparser displacements.

    Parameters
    ----------
    x
        Source (control) cells, shape ``(n, n_genes)``, data units.
    y
        Target (treated) cells, shape ``(m, n_genes)``.
    penalty
        ``"stvs"`` (τ = STVS with scale ``gamma``; shrinks small displacements to zero and barely
        touches large ones) or ``"l1"`` (τ = ‖·‖₁; soft-thresholding, shrinks every displacement
        by ``strength``).
    reg
        Entropic regularisation ε > 0 in cost units. Default: 5% of the median entry of the
        elastic cost matrix ``C``. Smaller is closer to unregularised OT; below the default,
        Sinkhorn is warm-started along ε-scaling (ε halves from the default down to ``reg``), which
        keeps small values affordable.
    strength
        λ ≥ 0. For ``"l1"`` the soft-threshold, in data units. For ``"stvs"`` a dimensionless
        factor in ``[0, 2]`` (``h`` stops being convex above 2); the threshold is ``λ·γ``.
        ``0`` gives the plain entropic (squared-Euclidean) map.
    gamma
        STVS scale γ > 0 in data units (ignored for ``"l1"``). Default: the median over genes of
        the standard deviation of ``x`` (γ = 1 on standardised data, ott-jax's default).
    n_iter_sinkhorn
        Largest number of Sinkhorn iterations per ε stage. A ``UserWarning`` is issued when, at
        the final ε, the L2 violation of the target marginal still exceeds ``1e-4 · ‖b‖₂``.
    support_tol
        If given (scalar or one value per gene, data units, ≥ 0), displacement entries with
        ``|Δ| ≤ support_tol`` are set to exactly zero, as in the results schema. Default: return
        the map unchanged (its exact zeros come from the prox).

    Returns
    -------
    numpy.ndarray
        ``T(x)``, shape ``(n, n_genes)``, float32 (computed in float64).

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is invalid (as in :func:`~scsparseot.baselines.exact_ot_map`), or a
        parameter is out of range: unknown ``penalty``, ``reg``/``gamma`` not positive and finite,
        ``strength`` negative (or above 2 for ``"stvs"``), ``n_iter_sinkhorn < 1``, or a bad
        ``support_tol``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 5))
    >>> y = rng.normal(size=(60, 5)) + np.array([4.0, 0, 0, 0, 0])
    >>> delta = elastic_map(x, y, penalty="l1", strength=1.0) - x
    >>> moved = np.abs(delta) > 1e-5  # exact zeros of the prox, up to float32 rounding
    >>> bool(moved[:, 0].all()), bool(moved[:, 1:].mean() < 0.5)
    (True, True)
    """
    x, y = check_pair(x, y)
    check_choice("penalty", penalty, ElasticPenalty, context=" for the elastic map")
    strength = _check_strength(penalty, strength)
    if gamma is None:
        gamma = median_positive_sd(x.std(0))
    gamma = _check_positive("gamma", gamma)
    if reg is not None:
        reg = _check_positive("reg", reg)
    check_int("n_iter_sinkhorn", n_iter_sinkhorn, 1, expected="a positive integer")
    tol = None if support_tol is None else check_support_tol(support_tol, x.shape[1])

    cost = _elastic_cost(x, y, penalty, strength, gamma)
    default_reg = _REG_FRACTION * float(np.median(cost))
    if reg is None:
        reg = default_reg
        if not reg > 0:
            msg = (
                "The median elastic cost is 0 (x and y coincide?), so the default reg is 0; "
                "pass a positive reg."
            )
            raise ValueError(msg)
    n = cost.shape[0]
    log_v, err, tol_used = _sinkhorn_log_v(cost, reg, n_iter_sinkhorn, start=default_reg)
    if not err < tol_used:
        warnings.warn(
            f"Sinkhorn did not converge in {n_iter_sinkhorn} iterations (marginal error {err:.2e} > "
            f"{tol_used:.2e}); increase n_iter_sinkhorn or reg (reg={reg:.3g}).",
            UserWarning,
            stacklevel=find_stack_level(),
        )
    # conditional weights p_j(x_i) ∝ b_j exp((g_j − C_ij)/ε); POT's log_v_j = log b_j + g_j/ε
    logits = log_v[None, :] - cost / reg
    logits -= logits.max(1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(1, keepdims=True)
    del logits, cost

    grad_h_mean = x - weights @ y  # Σ_j p_j ∇h(x − y_j) without the penalty part
    if strength > 0:
        grad_h_mean += strength * _weighted_penalty_grad(x, y, weights, penalty, gamma)
        prox = (
            soft_threshold(grad_h_mean, strength)
            if penalty == "l1"
            else stvs_prox(grad_h_mean, strength, gamma)
        )
    else:
        prox = grad_h_mean
    delta = -prox
    if tol is not None:
        delta[np.abs(delta) <= tol] = 0.0
    logger.info(
        "elastic map (%s, strength=%.3g, reg=%.3g): %d cells, %.1f%% of displacement entries are 0",
        penalty,
        strength,
        reg,
        n,
        100.0 * float((delta == 0).mean()),
    )
    return (x + delta).astype(np.float32)


def _sinkhorn_log_v(
    cost: np.ndarray, reg: float, n_iter: int, *, start: float
) -> tuple[np.ndarray, float, float]:
    """Log-domain Sinkhorn with uniform weights and warm-started ε-scaling down to ``reg``.

    ε halves from ``max(start, reg)`` to ``reg``; each stage runs at most ``n_iter`` iterations
    from the previous stage's dual potentials (POT's log-scalings are ``log a + f/ε``, so they are
    rescaled between stages). Returns POT's ``log_v`` (``log b_j + g_j/ε``) of the last stage, its
    last marginal error and the tolerance it was held to.
    """
    n, m = cost.shape
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)
    log_a, log_b = np.log(a), np.log(b)
    tol = _SINKHORN_RTOL * float(np.linalg.norm(b))
    eps = max(start, reg)
    u, v = np.zeros(n), np.zeros(m)
    prev = None
    while True:
        if prev is not None:
            u = log_a + (u - log_a) * (prev / eps)
            v = log_b + (v - log_b) * (prev / eps)
        with np.errstate(over="ignore"):  # POT also returns exp(log_u), unused here
            _, log = ot.bregman.sinkhorn_log(
                a, b, cost, eps, numItermax=int(n_iter), stopThr=tol, log=True, warn=False, warmstart=(u, v)
            )
        u, v = log["log_u"], log["log_v"]
        if eps <= reg:
            err = float(log["err"][-1]) if log["err"] else math.inf
            return v, err, tol
        prev, eps = eps, max(reg, eps / 2.0)


def _elastic_cost(x: np.ndarray, y: np.ndarray, penalty: str, strength: float, gamma: float) -> np.ndarray:
    """``C_ij = ½‖x_i − y_j‖² + λ τ(x_i − y_j)``, built in row blocks to bound memory."""
    cost = 0.5 * ot.dist(x, y, metric="sqeuclidean")
    if strength == 0:
        return cost
    if penalty == "l1":
        return cost + strength * ot.dist(x, y, metric="cityblock")
    stvs = STVS(gamma=gamma)
    for rows in _row_blocks(x.shape[0], y.shape[0] * y.shape[1]):
        cost[rows] += stvs.value(x[rows, None, :] - y[None, :, :], weight=strength)
    return cost


def _weighted_penalty_grad(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, penalty: str, gamma: float
) -> np.ndarray:
    """``Σ_j w_ij ∇τ(x_i − y_j)`` for every source cell, in row blocks."""
    out = np.empty_like(x)
    for rows in _row_blocks(x.shape[0], y.shape[0] * y.shape[1]):
        z = x[rows, None, :] - y[None, :, :]
        g = np.sign(z) if penalty == "l1" else stvs_grad(z, gamma)
        out[rows] = np.einsum("ij,ijk->ik", weights[rows], g)
    return out


def _row_blocks(n: int, entries_per_row: int) -> list[slice]:
    step = max(1, _BLOCK_ENTRIES // max(1, entries_per_row))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _check_positive(name: str, value: float) -> float:
    return check_number(name, value, low=0, low_open=True, expected="a positive finite number")


def _check_strength(penalty: str, strength: float) -> float:
    check_number("strength", strength, low=0)
    if penalty == "stvs" and strength > _STVS_MAX_STRENGTH:
        msg = (
            f"strength must be <= {_STVS_MAX_STRENGTH:g} for the STVS penalty (h = ½‖z‖² + strength·STVS "
            f"is not convex above), got {strength!r}; raise gamma instead (the threshold is strength·gamma)."
        )
        raise ValueError(msg)
    return float(strength)
