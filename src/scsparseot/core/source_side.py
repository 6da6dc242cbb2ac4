"""The source's share of a state-conditional fit, computed once and shared by every target of a screen.

A screen fits one control group against many treated groups. What depends on the control cells
alone is the same for every target: their standardisation, the first pass's state embedding (a
PCA of the control cells in every gene) and the control side of the pooled tests. :func:`prepare_source`
computes it once; :func:`~scsparseot.core.fit_conditional` takes the result in place of the source
cells and then does only the work that depends on the target (the target's embedding, the states,
the within-state tests, the closed form and the training). A fit given the cells themselves
prepares them first, so that both give the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._conditional_stats import Moments, moments, source_pca
from ._rows import check_cells
from ._scale import floored_sd
from ._state_geometry import embed
from .conditional_config import ConditionalConfig

__all__ = ["SourceSide", "prepare_source", "standardise"]


@dataclass(frozen=True, eq=False)
class SourceSide:
    """The source cells and what every target's fit computes from them alone (:func:`prepare_source`).

    Attributes
    ----------
    x
        The source cells, ``(n, d)`` float32 in data units.
    mean, sd
        Each gene's mean and (floored) standard deviation in ``x`` (float64): the z-score units.
    zx
        ``x`` in z-scores (float32).
    pca_mean, components, embedding
        The first pass's state embedding: a PCA of at most
        ``scsparseot.core._conditional_stats.PCA_MAX_CELLS`` source cells in every gene, and the
        source cells' coordinates in it.
    z_moments, spread_moments
        The source side of the pooled tests: each gene's count, mean and variance of ``zx``, and of
        its absolute deviations from the gene's median (Brown–Forsythe).
    n_pcs, seed
        The PCA's settings (``config.n_pcs``, the seed of its subsample and solver); a fit checks
        that its configuration asks for the same ``n_pcs``.
    """

    x: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    zx: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray
    embedding: np.ndarray
    z_moments: Moments
    spread_moments: Moments
    n_pcs: int
    seed: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_cells, n_genes)`` of the source."""
        return self.x.shape  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"SourceSide(n_cells={self.shape[0]}, n_genes={self.shape[1]}, n_pcs={self.n_pcs}, seed={self.seed})"


def prepare_source(x: Any, *, config: ConditionalConfig | None = None, seed: int = 0) -> SourceSide:
    """Compute the source's share of :func:`~scsparseot.core.fit_conditional` once, for many targets.

    Parameters
    ----------
    x
        The source (control) cells, ``(n, d)`` in data units: a dense array or a scipy sparse
        matrix (densified once).
    config
        The fits' :class:`~scsparseot.core.ConditionalConfig` (its ``n_pcs``).
    seed
        Seed of the embedding's PCA (its subsample of cells and randomised solver).

    Returns
    -------
    SourceSide
        Pass it as ``x`` to :func:`~scsparseot.core.fit_conditional` for every target.

    Examples
    --------
    >>> import numpy as np
    >>> from scsparseot.core import fit_conditional, prepare_source
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 20))
    >>> y1, y2 = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
    >>> y1[:, 3] += 1.0
    >>> source = prepare_source(x, seed=0)
    >>> fits = [fit_conditional(source, y, seed=0, train=False) for y in (y1, y2)]
    >>> [np.flatnonzero(f.selected).tolist() for f in fits]
    [[3], []]
    >>> bool(np.array_equal(fits[0].p_value, fit_conditional(x, y1, seed=0, train=False).p_value))
    True
    """
    config = config or ConditionalConfig()
    x = check_cells("source data", x.toarray() if hasattr(x, "toarray") else x)
    mean = x.mean(0, dtype=np.float64)
    sd = floored_sd(x.std(0, dtype=np.float64))
    zx = standardise(x, mean, sd)
    keep = np.ones(x.shape[1], dtype=bool)
    pca_mean, components = source_pca(x, keep, config.n_pcs, seed)
    return SourceSide(
        x=x,
        mean=mean,
        sd=sd,
        zx=zx,
        pca_mean=pca_mean,
        components=components,
        embedding=embed(x, pca_mean, components),
        z_moments=moments(zx),
        spread_moments=moments(np.abs(zx - np.median(zx, 0))),
        n_pcs=int(config.n_pcs),
        seed=int(seed),
    )


def standardise(a: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Z-scores of ``a`` in the source cells' units (float32)."""
    return ((a - mean) / sd).astype(np.float32)
