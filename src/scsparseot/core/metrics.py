"""Metrics on displacements and transported samples (numpy in, numpy/float out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import ot

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "displacement_dim",
    "moved",
    "precision_at_k",
    "rank_genes",
    "recall",
    "sliced_wasserstein",
    "subsample_index",
    "subsample_rows",
    "support_frequency",
]


def moved(delta: np.ndarray, support_tol: float | np.ndarray) -> np.ndarray:
    """Which coordinates of the displacements move: ``|Δ| > support_tol``.

    Parameters
    ----------
    delta
        Displacements ``T(x) − x``.
    support_tol
        Absolute tolerance, scalar or one value per gene (broadcast against ``delta``).

    Returns
    -------
    numpy.ndarray
        Boolean mask, same shape as ``delta``.

    Examples
    --------
    >>> import numpy as np
    >>> moved(np.array([[0.5, -2.0]]), 1.0)
    array([[False,  True]])
    """
    return np.abs(delta) > np.asarray(support_tol)


def displacement_dim(delta: np.ndarray, support_tol: float | np.ndarray) -> float:
    """Average number of moved coordinates per cell.

    A coordinate of a displacement counts as moved when ``|Δ_i| > support_tol`` (a scalar, or one
    tolerance per gene, in data units).

    Parameters
    ----------
    delta
        Displacements ``T(x) − x``, shape ``(n_cells, n_genes)``.
    support_tol
        Absolute tolerance, scalar or shape ``(n_genes,)``.

    Examples
    --------
    >>> import numpy as np
    >>> displacement_dim(np.array([[0.0, 2.0, 0.5], [3.0, 0.0, 0.0]]), 1.0)
    1.0
    """
    if delta.size == 0:
        return 0.0
    return float(moved(delta, support_tol).sum(1).mean())


def support_frequency(delta: np.ndarray, support_tol: float | np.ndarray) -> np.ndarray:
    """Fraction of cells in which each gene moves (``|Δ_i| > support_tol``), shape ``(n_genes,)``."""
    if delta.shape[0] == 0:
        return np.zeros(delta.shape[1])
    return moved(delta, support_tol).mean(0)


def sliced_wasserstein(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_projections: int = 200,
    max_points: int | None = 2000,
    seed: int = 0,
) -> float:
    """Sliced Wasserstein-2 distance between two point clouds (POT's estimator).

    Parameters
    ----------
    x, y
        Samples of shape ``(n, d)`` and ``(m, d)``.
    n_projections
        Number of random directions.
    max_points
        Subsample each cloud to at most this many points (seeded) to bound the cost.
    seed
        Seed of the projections and the subsampling, so that values are comparable across calls.
    """
    rng = np.random.default_rng(seed)
    x, y = (subsample_rows(a, max_points, rng) for a in (x, y))
    return float(
        ot.sliced_wasserstein_distance(
            np.ascontiguousarray(x, dtype=np.float64),
            np.ascontiguousarray(y, dtype=np.float64),
            n_projections=n_projections,
            seed=seed,
        )
    )


def subsample_rows(
    a: np.ndarray, max_points: int | None, rng: np.random.Generator, *, sort: bool = False
) -> np.ndarray:
    """At most ``max_points`` rows of ``a``, drawn without replacement (:func:`subsample_index`).

    Parameters
    ----------
    a
        Array whose rows are drawn.
    max_points
        Largest number of rows kept (``None``: all).
    rng
        Generator of the draw (not used when every row is kept).
    sort
        Keep the drawn rows in their original order.

    Returns
    -------
    numpy.ndarray
        ``a`` itself when it has at most ``max_points`` rows, else the drawn rows.
    """
    idx = subsample_index(a.shape[0], max_points, rng)
    if idx is None:
        return a
    return a[np.sort(idx) if sort else idx]


def subsample_index(n: int, max_points: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """Rows that :func:`sliced_wasserstein` keeps of ``n`` points (``None``: all, and ``rng`` is not used).

    Drawing the indices first lets a caller read only those rows of data it streams.
    """
    if max_points is None or n <= max_points:
        return None
    return rng.choice(n, max_points, replace=False)


def rank_genes(delta: np.ndarray) -> np.ndarray:
    """Gene indices ordered by decreasing mean absolute displacement (ties by index)."""
    score = np.abs(delta).mean(0)
    return np.lexsort((np.arange(score.size), -score))


def precision_at_k(
    ranking: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray, k: int | None = None
) -> float:
    """Share of the top-``k`` ranked genes that are true genes (``k`` defaults to ``len(truth)``).

    Examples
    --------
    >>> precision_at_k([3, 1, 2, 0], [1, 3], k=2)
    1.0
    """
    truth = set(np.asarray(truth).tolist())
    k = len(truth) if k is None else int(k)
    if k <= 0:
        return float("nan")
    top = np.asarray(ranking)[:k].tolist()
    return len(truth.intersection(top)) / k


def recall(selected: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray) -> float:
    """Share of the true genes that are selected (``nan`` when there are none)."""
    truth = set(np.asarray(truth).tolist())
    if not truth:
        return float("nan")
    return len(truth.intersection(np.asarray(selected).tolist())) / len(truth)
