"""Stability of gene selection across refits on subsamples of cells (stability selection)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._device import named_seed
from .summary import summarise_displacements

if TYPE_CHECKING:
    from collections.abc import Callable

    from .cells import CellData
    from .result import FitResult

__all__ = ["select_by_support", "selection_frequency"]


def select_by_support(support: np.ndarray, min_support: float) -> np.ndarray:
    """Genes whose share of moved cells ``support`` is at least ``min_support`` (``> 0`` when it is 0).

    Examples
    --------
    >>> import numpy as np
    >>> select_by_support(np.array([0.0, 0.2, 0.6]), 0.5)
    array([False, False,  True])
    """
    return support >= min_support if min_support > 0 else support > 0


def selection_frequency(
    x: np.ndarray | CellData,
    y: np.ndarray | CellData,
    fit: Callable[[np.ndarray | CellData, np.ndarray | CellData, int], FitResult],
    *,
    n_runs: int,
    fraction: float = 0.8,
    min_support: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """Share of refits, each on a random ``fraction`` of the source and of the target cells, that select each gene.

    Parameters
    ----------
    x, y
        Source and target cells: arrays or :class:`~scsparseot.core.CellData` (subsets of
        which are passed to ``fit`` as such, not densified).
    fit
        ``fit(x_sub, y_sub, seed) -> FitResult``; the caller fixes everything else (penalty, λ, ...).
    n_runs
        Number of refits.
    fraction
        Share of cells drawn, without replacement, in each refit.
    min_support
        Share of (subsampled) source cells a gene must move in to count as selected.
    seed
        Seed of the subsamples and of the refits.

    Returns
    -------
    Selection frequency per gene, shape ``(n_genes,)``, in ``[0, 1]``.
    """
    if n_runs < 1 or not 0 < fraction <= 1:
        msg = f"Need n_runs >= 1 and 0 < fraction <= 1, got n_runs={n_runs}, fraction={fraction}."
        raise ValueError(msg)
    counts = np.zeros(x.shape[1])
    for run in range(n_runs):
        rng = np.random.default_rng(named_seed(seed, f"subsample-{run}"))
        xs = x[np.sort(rng.choice(x.shape[0], max(2, round(fraction * x.shape[0])), replace=False))]
        ys = y[np.sort(rng.choice(y.shape[0], max(2, round(fraction * y.shape[0])), replace=False))]
        res = fit(xs, ys, named_seed(seed, f"refit-{run}"))
        # the share of moved cells, streamed over blocks of cells (no dense displacement matrix)
        counts += select_by_support(
            summarise_displacements(xs, res.map, res.map.support_tol).support, min_support
        )
    return counts / n_runs
