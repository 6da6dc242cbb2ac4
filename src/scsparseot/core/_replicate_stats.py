"""Gene tests across replicates (wells, plates, lanes, donors): pseudobulk means and a moderated t.

Cells of one well are not independent replicates of a drug's effect: a well-to-well offset moves
all of a well's cells together, and a test that counts every cell as a replicate calls the offset
(pseudoreplication; Squair et al. 2021, Zimmerman et al. 2021). Here each replicate × state is
one observation, the mean of its cells' z-scores (a pseudobulk profile), and each gene's shift is
tested across replicates by a linear model with a moderated t statistic: the gene variances are
shrunk toward a prior fitted to all genes (Smyth 2004, limma's ``eBayes``), which suits the few
replicates of a screen. When some replicate labels (donors, plates) hold cells on both sides, the
model has one intercept per label (a blocked, paired design). The moderated t is written here
because no small, well-kept Python package provides it on a plain matrix (``inmoose`` ports limma
with R-style design objects and many dependencies); it is the textbook formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse, special, stats

__all__ = ["ReplicateDesign", "group_means", "moderated_t", "squeeze_var"]


@dataclass(frozen=True)
class ReplicateDesign:
    """The replicate of every source and target cell, as codes shared by the two sides.

    A label that holds cells on both sides (a donor, a plate) has one code there; the test then
    blocks on it.
    """

    source: np.ndarray
    target: np.ndarray
    names: np.ndarray

    @classmethod
    def from_labels(cls, source: np.ndarray, target: np.ndarray) -> ReplicateDesign:
        """Codes of the labels of the source and the target cells."""
        labels = np.r_[np.asarray(source, dtype=str), np.asarray(target, dtype=str)]
        names, codes = np.unique(labels, return_inverse=True)
        return cls(source=codes[: len(source)], target=codes[len(source) :], names=names)

    @property
    def n_source(self) -> int:
        """Replicates with source cells."""
        return int(np.unique(self.source).size)

    @property
    def n_target(self) -> int:
        """Replicates with target cells."""
        return int(np.unique(self.target).size)

    @property
    def usable(self) -> bool:
        """At least 2 replicates on each side (else the cells are tested)."""
        return min(self.n_source, self.n_target) >= 2


def group_means(z: np.ndarray, groups: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the rows of ``z`` in each group (``(n_groups, d)``, 0 where empty) and the group sizes."""
    ind = sparse.csr_matrix(
        (np.ones(groups.size), (groups, np.arange(groups.size))), shape=(n_groups, groups.size)
    )
    counts = np.bincount(groups, minlength=n_groups).astype(np.float64)
    sums = np.asarray(ind @ z.astype(np.float64))
    return sums / np.maximum(counts, 1.0)[:, None], counts


def _trigamma_inverse(v: float) -> float:
    """``y`` with ``trigamma(y) = v`` (limma's Newton iteration)."""
    if v > 1e7:
        return 1.0 / np.sqrt(v)
    if v < 1e-6:
        return 1.0 / v
    y = 0.5 + 1.0 / v
    for _ in range(50):
        tri = special.polygamma(1, y)
        step = tri * (1.0 - tri / v) / special.polygamma(2, y)
        y += step
        if -step / y < 1e-8:
            break
    return float(y)


def squeeze_var(s2: np.ndarray, df: float) -> tuple[np.ndarray, float]:
    """Moderated variances ``(d0·s0² + df·s²) / (d0 + df)`` and the prior degrees of freedom ``d0``.

    ``d0`` and ``s0²`` are fitted to the genes' ``log s²`` by moments (Smyth 2004, limma's
    ``fitFDist``); genes with ``s² = 0`` are left out of the fit. ``d0`` is infinite when the
    variances vary no more than sampling alone would (every gene then gets ``s0²``).
    """
    ok = s2 > 1e-12
    if ok.sum() < 3:
        return s2, 0.0
    e = np.log(s2[ok]) - special.digamma(df / 2) + np.log(df / 2)
    excess = float(e.var(ddof=1) - special.polygamma(1, df / 2))
    if excess <= 0:
        d0 = np.inf
        s0 = float(np.exp(e.mean()))
        return np.full_like(s2, s0), d0
    d0 = 2.0 * _trigamma_inverse(excess)
    s0 = float(np.exp(e.mean() + special.digamma(d0 / 2) - np.log(d0 / 2)))
    return (d0 * s0 + df * s2) / (d0 + df), d0


def moderated_t(
    means: np.ndarray, treated: np.ndarray, blocks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """Each gene's shift (treated − control) across replicate means, its moderated t p-value.

    Parameters
    ----------
    means
        One row per replicate (its cells' mean), one column per gene.
    treated
        Whether each row is a target replicate.
    blocks
        A block label per row (rows of one label on both sides are paired), or ``None``.

    Returns
    -------
    tuple or None
        ``(shift, standard error, p-value, residual degrees of freedom)`` per gene; ``None`` when
        the design leaves no residual degree of freedom.
    """
    treated = np.asarray(treated, dtype=np.float64)
    cols = [treated]
    if blocks is not None:
        _, b = np.unique(blocks, return_inverse=True)
        cols += [(b == k).astype(np.float64) for k in range(b.max() + 1)]
    else:
        cols.append(np.ones_like(treated))
    design = np.column_stack(cols)
    rank = np.linalg.matrix_rank(design)
    df = means.shape[0] - rank
    if df < 1 or rank < design.shape[1]:  # no residual, or every block on one side only
        return None
    coef, *_ = np.linalg.lstsq(design, means, rcond=None)
    resid = means - design @ coef
    s2 = (resid**2).sum(0) / df
    unscaled = float(np.linalg.pinv(design.T @ design)[0, 0])
    s2_post, d0 = squeeze_var(s2, df)
    se = np.sqrt(np.maximum(s2_post * unscaled, 1e-24))
    total_df = df + d0
    t = coef[0] / se
    tail = stats.norm.sf(np.abs(t)) if np.isinf(total_df) else stats.t.sf(np.abs(t), total_df)
    p = np.minimum(2.0 * tail, 1.0)
    return coef[0], se, p, float(df)
