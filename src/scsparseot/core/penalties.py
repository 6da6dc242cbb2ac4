"""Sparsity penalties τ on displacement vectors ``z = T(x) − x``.

Every penalty maps a batch ``z`` of shape ``(n, d)`` to one value per row, shape ``(n,)``; the
trainer averages over cells, so the strength λ means the same at any number of cells. Calling a
penalty evaluates it on torch tensors (for training); :meth:`Penalty.value` evaluates the same
formula on numpy arrays (for the numpy baselines in :mod:`scsparseot.baselines`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._checks import check_choice, check_number
from .._types import PenaltyName

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["L1", "STVS", "KOverlap", "Penalty", "SmoothedL0", "get_penalty"]


@dataclass(frozen=True)
class Penalty:
    """Base class: a sparsity-inducing function of displacement vectors."""

    name = "penalty"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Penalty of each row of ``z`` (``(n, d)`` → ``(n,)``)."""
        raise NotImplementedError

    def value(self, z: np.ndarray, weight: float | None = None) -> np.ndarray:
        """Penalty of each row of a numpy array ``z`` (``(..., d)`` → ``(...)``), times ``weight``.

        Parameters
        ----------
        z
            Displacements, the coordinates along the last axis.
        weight
            Factor applied to the penalty (``None``: 1). Passing it here, rather than multiplying
            the result, keeps the floating-point order of ``weight · τ(z)`` of the numpy baselines.

        Returns
        -------
        numpy.ndarray
            ``weight · τ(z)`` over the last axis, in the dtype of ``z``.
        """
        msg = f"{type(self).__name__} has no numpy evaluation; use the torch call."
        raise NotImplementedError(msg)


@dataclass(frozen=True)
class L1(Penalty):
    r"""Lasso penalty :math:`\tau(z) = \sum_i |z_i|`."""

    name = "l1"

    def __call__(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return z.abs().sum(-1)

    def value(self, z: np.ndarray, weight: float | None = None) -> np.ndarray:  # noqa: D102
        out = np.abs(z).sum(-1)
        return out if weight is None else weight * out


@dataclass(frozen=True)
class STVS(Penalty):
    r"""Soft-thresholding operator with vanishing shrinkage (Schreck et al. 2015).

    .. math::
        \tau(z) = \gamma^2 \sum_i \left(\sigma_i + \tfrac12 - \tfrac12 e^{-2\sigma_i}\right),
        \qquad \sigma_i = \operatorname{asinh}\left(\frac{|z_i|}{2\gamma}\right).

    Near zero it behaves as :math:`\gamma\,|z_i|`; for :math:`|z_i| \gg \gamma` it grows only
    logarithmically, so large displacements are barely shrunk (Cuturi et al. 2023, eq. 9).

    Parameters
    ----------
    gamma
        Scale γ > 0, in the units of the data the trainer sees (standardised units by default).
    """

    gamma: float = 0.5
    name = "stvs"

    def __post_init__(self) -> None:
        _check_positive("gamma", self.gamma)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self._formula(z, torch, self.gamma**2)

    def value(self, z: np.ndarray, weight: float | None = None) -> np.ndarray:  # noqa: D102
        return self._formula(z, np, self.gamma**2 if weight is None else weight * self.gamma**2)

    def _formula(self, z: Any, xp: Any, coef: float) -> Any:
        """``coef · Σ_i (σ_i + ½ − ½ e^{−2σ_i})`` with the array module ``xp`` (torch or numpy)."""
        sigma = xp.arcsinh(xp.abs(z) / (2.0 * self.gamma))
        return coef * (sigma + 0.5 - 0.5 * xp.exp(-2.0 * sigma)).sum(-1)

    def grad(self, z: np.ndarray) -> np.ndarray:
        r"""Derivative of the penalty, coordinate-wise (numpy).

        .. math::
            \partial_i \tau(z) = \operatorname{sign}(z_i)\,\gamma e^{-\sigma_i}
            = \operatorname{sign}(z_i)\Big(\sqrt{\gamma^2 + z_i^2/4} - |z_i|/2\Big),

        which is ``±γ`` at zero (the slope of ``γ|z|``) and decays like ``γ²/|z|``; ``0`` at
        ``z = 0``, the middle of the subdifferential.

        Examples
        --------
        >>> STVS(gamma=1.0).grad(np.array([-1.5, 0.0, 1.5]))
        array([-0.5,  0. ,  0.5])
        """
        z = np.asarray(z, dtype=np.float64)
        a = np.abs(z)
        # sqrt(γ² + a²/4) − a/2 written without cancellation for large a
        return np.sign(z) * self.gamma**2 / (np.sqrt(self.gamma**2 + 0.25 * a**2) + 0.5 * a)

    def prox(self, z: np.ndarray, strength: float) -> np.ndarray:
        r"""Proximal operator of ``strength · τ``, in closed form (numpy).

        ``p = prox(z)`` solves ``p + λ ∂τ(p) ∋ z`` (λ = ``strength``). With :meth:`grad` this is a
        quadratic in ``|p|`` whose relevant root is

        .. math::
            |p| = \frac{\max(z^2 - \lambda^2\gamma^2,\ 0)}
                       {(1 - \lambda/2)\,|z| + \lambda\sqrt{z^2/4 + (1 - \lambda)\gamma^2}},
            \qquad \operatorname{sign}(p) = \operatorname{sign}(z),

        so coordinates with ``|z| ≤ λγ`` are set exactly to zero and large ones are barely shrunk.
        For ``λ = 1`` it is ``z · max(1 − γ²/z², 0)``, ott-jax's ``ElasticSTVS.prox_reg`` (its
        ``regularizers.STVS.prox(v, tau)`` uses ``z · max(1 − (τγ)²/z², 0)`` for every τ, which is
        the exact prox only at τ = 1). Valid for ``0 ≤ λ ≤ 2``, where ``½z² + λτ`` is convex.

        Examples
        --------
        >>> STVS(gamma=1.0).prox(np.array([-2.0, 0.5, 1.0, 4.0]), 1.0)
        array([-1.5 ,  0.  ,  0.  ,  3.75])
        """
        strength = float(check_number("strength", strength, low=0))
        if strength > 2:
            msg = f"strength must be in [0, 2] for the STVS prox (½z² + strength·τ is not convex above), got {strength!r}."
            raise ValueError(msg)
        z = np.asarray(z, dtype=np.float64)
        if strength == 0:
            return z.copy()
        a, g = np.abs(z), self.gamma
        num = np.maximum(a**2 - (strength * g) ** 2, 0.0)
        den = (1.0 - 0.5 * strength) * a + strength * np.sqrt(
            np.maximum(0.25 * a**2 + (1.0 - strength) * g**2, 0.0)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            mag = np.where(num > 0, num / np.where(den > 0, den, 1.0), 0.0)
        return np.sign(z) * mag


@dataclass(frozen=True)
class SmoothedL0(Penalty):
    r"""Smoothed ℓ0 penalty :math:`\tau(z) = \sum_i 1 - \exp(-z_i^2 / (2\sigma^2))`.

    It counts, softly, the coordinates with :math:`|z_i| \gg \sigma` (Mohimani et al. 2009).

    Parameters
    ----------
    sigma
        Width σ > 0 below which a displacement counts as (nearly) zero.
    """

    sigma: float = 1.0
    name = "l0"

    def __post_init__(self) -> None:
        _check_positive("sigma", self.sigma)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return (1.0 - self._bump(z, torch)).sum(-1)

    def value(self, z: np.ndarray, weight: float | None = None) -> np.ndarray:  # noqa: D102
        out = (1.0 - self._bump(z, np)).sum(-1)
        return out if weight is None else weight * out

    def value_and_grad(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Penalty of each row of a numpy array ``z`` and its gradient :math:`z_i e^{-z_i^2/(2\sigma^2)} / \sigma^2`.

        Parameters
        ----------
        z
            Displacements, the coordinates along the last axis.

        Returns
        -------
        tuple of numpy.ndarray
            The penalty over the last axis and the gradient (same shape as ``z``).
        """
        bump = self._bump(z, np)
        return (1.0 - bump).sum(-1), z * bump / self.sigma**2

    def _bump(self, z: Any, xp: Any) -> Any:
        """``exp(−z² / (2σ²))`` with the array module ``xp`` (torch or numpy)."""
        return xp.exp(-(z**2) / (2.0 * self.sigma**2))


@dataclass(frozen=True)
class KOverlap(Penalty):
    r"""Squared k-support norm, :math:`\tau(z) = \tfrac12 \|z\|_{(k)}^{sp\,2}` (Argyriou et al. 2012).

    With :math:`|z|^\downarrow` sorted decreasingly and :math:`r \in \{0, \dots, k-1\}` the unique
    integer with :math:`|z|^\downarrow_{k-r-1} > \frac{1}{r+1}\sum_{i \ge k-r} |z|^\downarrow_i
    \ge |z|^\downarrow_{k-r}` (1-based, :math:`|z|^\downarrow_0 = \infty`),

    .. math::
        \|z\|_{(k)}^{sp\,2} = \sum_{i=1}^{k-r-1} (|z|^\downarrow_i)^2
        + \frac{1}{r+1}\Big(\sum_{i=k-r}^{d} |z|^\downarrow_i\Big)^2 .

    ``k = 1`` gives the squared ℓ1 norm, ``k = d`` the squared ℓ2 norm. It favours displacements
    spread over about ``k`` coordinates. Its gradient is non-smooth in more places than ℓ1's and the
    minimax training converges less reliably with it than with ``"stvs"`` (as reported for DisNOT);
    prefer it only when the number of moved genes per cell is known.

    Parameters
    ----------
    k
        Target number of non-zero coordinates, ``k ≥ 1``.
    """

    k: int = 5
    name = "k_overlap"

    def __post_init__(self) -> None:
        if int(self.k) != self.k or self.k < 1:
            msg = f"k-overlap needs an integer k >= 1, got k={self.k!r}."
            raise ValueError(msg)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        d = z.shape[-1]
        k = min(int(self.k), d)
        s, _ = torch.sort(z.abs(), dim=-1, descending=True)  # (n, d)
        # tail[j] = sum_{i >= j} s_i (0-based); one extra zero column for j = d
        tail = torch.flip(torch.cumsum(torch.flip(s, [-1]), -1), [-1])
        tail = torch.cat([tail, torch.zeros_like(tail[..., :1])], -1)
        head_sq = torch.cat([torch.zeros_like(s[..., :1]), torch.cumsum(s**2, -1)], -1)
        inf = torch.full_like(s[..., :1], math.inf)
        s_pad = torch.cat([inf, s, torch.zeros_like(s[..., :1])], -1)  # s_pad[j] = s_{j-1}
        rs = torch.arange(k, device=z.device)
        h = k - rs - 1  # number of leading entries kept as they are (0-based start of the tail)
        t = tail[..., h] / (rs + 1).to(z.dtype)  # (n, k)
        # the valid r is unique in exact arithmetic; in floating point ties can make every test fail by
        # a rounding error, so take the r whose conditions are violated least
        violation = torch.clamp(t - s_pad[..., h], min=0.0) + torch.clamp(s_pad[..., h + 1] - t, min=0.0)
        idx = violation.argmin(-1)
        r = rs[idx]
        hh = h[idx]
        norm_sq = head_sq.gather(-1, hh[..., None])[..., 0] + tail.gather(-1, hh[..., None])[..., 0] ** 2 / (
            r + 1
        ).to(z.dtype)
        return 0.5 * norm_sq


_REGISTRY: dict[str, Callable[..., Penalty]] = {
    "l1": L1,
    "stvs": STVS,
    "l0": SmoothedL0,
    "k_overlap": KOverlap,
}


def get_penalty(penalty: PenaltyName | Penalty, **params: float) -> Penalty:
    """Return a penalty instance from its name (``"l1"``, ``"stvs"``, ``"l0"``, ``"k_overlap"``).

    Parameters
    ----------
    penalty
        A name (``"l1"``, ``"stvs"``, ``"l0"``, ``"k_overlap"``) or a :class:`Penalty` instance
        (returned as is).
    **params
        Parameters of the penalty: ``gamma`` (STVS), ``sigma`` (smoothed ℓ0), ``k`` (k-overlap).

    Examples
    --------
    >>> import torch
    >>> from scsparseot.core import get_penalty
    >>> get_penalty("l1")(torch.tensor([[1.0, -2.0, 0.0]]))
    tensor([3.])
    """
    if isinstance(penalty, Penalty):
        return penalty
    check_choice("penalty", penalty, PenaltyName)
    try:
        return _REGISTRY[penalty](**params)
    except TypeError as err:
        msg = f"Bad parameters {params} for penalty {penalty!r}: {err}"
        raise TypeError(msg) from err


def _check_positive(name: str, value: float) -> None:
    check_number(
        f"Penalty parameter {name}", value, low=0, low_open=True, expected="a positive finite number"
    )
