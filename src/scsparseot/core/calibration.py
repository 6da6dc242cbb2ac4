"""Calibrated gene selection: a control-vs-control null, empirical p-values and Benjamini–Hochberg.

A map fitted between two disjoint random parts of the source (control) cells should move nothing;
the gene scores of such maps, pooled over genes and repeats, form the null distribution of the
score of an unperturbed gene. Scores are standardised per gene (mean absolute displacement divided
by the gene's standard deviation in the source), which makes genes exchangeable under the null.

The null matches the real comparison's group sizes. An unmoved gene's displacement noise scales
like ``√(1/n_s + 1/n_t)``; with many control and few treated cells, maps between halves of the
control would be quieter than the real map and call noise. So the null's target part has the real
target's size ``n_t`` and its source part is the rest of the control cells (``n_s − n_t``, noise at
least the real one). When ``n_t > n_s / 2`` that is impossible; the null then uses halves, whose
noise ``√(4/n_s)`` exceeds the real ``√(1/n_s + 1/n_t)``: conservative, fewer calls
(:func:`~scsparseot.core.null_split_sizes` says which).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ._device import named_seed

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["benjamini_hochberg", "empirical_pvalues", "gene_scores", "null_scores", "null_split_sizes"]


def gene_scores(delta: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-gene score: mean absolute displacement over cells divided by the gene's source standard deviation.

    Examples
    --------
    >>> import numpy as np
    >>> gene_scores(np.array([[1.0, 0.0], [-3.0, 0.0]]), np.array([2.0, 1.0]))
    array([1., 0.])
    """
    return np.abs(delta).mean(0) / np.where(scale > 0, scale, 1.0)


def null_split_sizes(n_source: int, n_target: int | None = None) -> tuple[int, int, bool]:
    """Sizes of the null's source and target parts of ``n_source`` control cells, and whether they match.

    The target part has the real target's size ``n_target`` and the source part the rest, when
    ``n_target ≤ n_source / 2``; otherwise (or with ``n_target=None``) halves, which is conservative.

    Examples
    --------
    >>> null_split_sizes(2000, 200)
    (1800, 200, True)
    >>> null_split_sizes(300, 250)
    (150, 150, False)
    """
    half = n_source // 2
    if n_target is not None and 1 <= n_target <= half:
        return n_source - n_target, n_target, True
    return n_source - half, half, False


def null_scores(
    x: np.ndarray,
    displace: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    *,
    n_null: int,
    n_target: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Gene scores of ``n_null`` control-vs-control maps, shape ``(n_null, n_genes)``.

    Each map goes from a random part of the source cells to the disjoint rest, with the sizes of
    :func:`~scsparseot.core.null_split_sizes`: the real comparison's ``n_target`` cells on the target side when the
    source has at least twice as many cells, halves otherwise.

    Parameters
    ----------
    x
        Source (control) cells.
    displace
        ``displace(x_a, x_b, seed)``: displacements of the cells ``x_a`` under a map fitted from
        ``x_a`` to ``x_b``, with everything else (method, penalty, λ, ...) fixed.
    n_null
        Number of random splits.
    n_target
        Number of target cells of the real comparison (``None``: halves).
    seed
        Seed of the splits and fits.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(100, 3))
    >>> null_scores(x, lambda a, b, s: np.zeros_like(a), n_null=2, n_target=20).shape
    (2, 3)
    """
    if x.shape[0] < 4:
        msg = f"A control-vs-control null needs at least 4 source cells, got {x.shape[0]}."
        raise ValueError(msg)
    n_a, _, _ = null_split_sizes(x.shape[0], n_target)
    scale = x.std(0)
    out = np.empty((n_null, x.shape[1]))
    for k in range(n_null):
        perm = np.random.default_rng(named_seed(seed, f"null-split-{k}")).permutation(x.shape[0])
        a, b = x[np.sort(perm[:n_a])], x[np.sort(perm[n_a:])]
        out[k] = gene_scores(displace(a, b, named_seed(seed, f"null-fit-{k}")), scale)
    return out


def empirical_pvalues(scores: np.ndarray, null: np.ndarray, *, min_exceedances: int = 10) -> np.ndarray:
    """P-values of ``scores`` against the pooled ``null`` values.

    Where at least ``min_exceedances`` null values are ≥ the score, the p-value is the empirical
    ``(1 + #{null ≥ s}) / (1 + N)``. Further out, where counting would only give the floor
    ``1 / (1 + N)``, the tail of the null is modelled as exponential above a threshold ``u`` that
    leaves the top ``k = max(10, N/10)`` null values above it (peaks over threshold, Knijnenburg
    et al. 2009): ``p = (k / N) · exp(−(s − u) / β)`` with ``β`` their mean excess over ``u``.
    This keeps p-values resolvable with few null maps. The tail is not trusted beyond two decades
    below what the null can count: p-values are floored at ``0.01 / (1 + N)``.

    Examples
    --------
    >>> import numpy as np
    >>> empirical_pvalues(np.array([0.0, 5.0]), np.array([0.0, 1.0, 2.0]), min_exceedances=0)
    array([1.  , 0.25])
    """
    pooled = np.sort(np.ravel(null))
    n = pooled.size
    n_ge = n - np.searchsorted(pooled, scores, side="left")
    p = (1.0 + n_ge) / (1.0 + n)
    far = n_ge < min_exceedances
    k = max(10, n // 10)  # exceedances that fit the tail: the top 10% of the null, at least 10 values
    if n > k and np.any(far):
        u = pooled[n - k - 1]
        beta = float(np.mean(pooled[n - k :] - u))
        if beta > 0:
            tail = k / n * np.exp(-(np.maximum(scores, u) - u) / beta)
            p = np.where(far, np.minimum(p, tail), p)
    return np.maximum(p, 0.01 / (1.0 + n))


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1).

    :func:`scipy.stats.false_discovery_control` (``method="bh"``) over all entries of ``p`` as one
    family, whatever its shape; the result has the shape of ``p``. ``NaN`` entries are not tests:
    they stay ``NaN`` and the others are adjusted among themselves (the number of tests is the
    number of non-``NaN`` entries, as R's ``p.adjust`` does), where scipy would raise.

    Parameters
    ----------
    p
        P-values in ``[0, 1]``, or ``NaN``.

    Returns
    -------
    numpy.ndarray
        The adjusted p-values (float64, a new array).

    Examples
    --------
    >>> import numpy as np
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5]))
    array([0.04      , 0.05333333, 0.05333333, 0.5       ])
    >>> benjamini_hochberg(np.array([0.01, np.nan, 0.03]))
    array([0.02, nan, 0.03])
    """
    p = np.array(p, dtype=np.float64)  # a copy: scipy returns a single p-value as it was given
    tests = ~np.isnan(p)
    if np.any((p[tests] < 0.0) | (p[tests] > 1.0)):
        msg = (
            f"P-values must lie in [0, 1] (or be NaN), got values from {p[tests].min()} to {p[tests].max()}; "
            "pass p-values, not scores or statistics."
        )
        raise ValueError(msg)
    if tests.any():
        p[tests] = stats.false_discovery_control(p[tests], method="bh")
    return p
