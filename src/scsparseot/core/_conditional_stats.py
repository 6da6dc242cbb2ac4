"""Tests and states of the state-conditional map: the gene tests, the state embedding and clustering.

The steps of :func:`~scsparseot.core.fit_conditional` that decide which genes respond and where:
:func:`global_tests` (each gene's global and spread tests), :func:`find_states` (the states and each
gene's combined p-value and selection, in two passes) and :func:`cochran_q` (whether a selected
gene's shift differs between states).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from ._state_geometry import embed, nearest
from .calibration import benjamini_hochberg

if TYPE_CHECKING:
    from .conditional_config import ConditionalConfig

#: the PCA of the state embedding is fitted on at most this many cells (a seeded subsample)
PCA_MAX_CELLS = 20000


def welch(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean shift ``mean(b) − mean(a)`` per column, its standard error and Welch–Satterthwaite degrees of freedom (float64)."""
    f8 = np.float64
    va, vb = a.var(0, ddof=1, dtype=f8) / a.shape[0], b.var(0, ddof=1, dtype=f8) / b.shape[0]
    se = np.maximum(np.sqrt(va + vb), 1e-12)
    df = (va + vb) ** 2 / np.maximum(va**2 / (a.shape[0] - 1) + vb**2 / (b.shape[0] - 1), 1e-300)
    return b.mean(0, dtype=f8) - a.mean(0, dtype=f8), se, np.maximum(df, 1.0)


def two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of Welch's ``t`` statistics (Student's t with ``df`` degrees of freedom)."""
    return np.minimum(2.0 * stats.t.sf(np.abs(t), df), 1.0)


def two_groups(z: np.ndarray, n_iter: int = 200) -> tuple[np.ndarray, float]:
    """EM for ``z ~ (1 − π) N(0, 1) + π N(0, 1 + τ²)``: posterior probability of the second group and ``τ²/(1 + τ²)``."""
    pi, tau2 = 0.05, 4.0
    w = np.zeros_like(z)
    for _ in range(n_iter):
        l0 = (1.0 - pi) * stats.norm.pdf(z)
        l1 = pi * stats.norm.pdf(z, scale=math.sqrt(1.0 + tau2))
        w = l1 / np.maximum(l0 + l1, 1e-300)
        pi = float(np.clip(w.mean(), 1e-4, 0.5))
        tau2 = max(float((w * z * z).sum() / max(w.sum(), 1e-9)) - 1.0, 1e-3)
    return w, tau2 / (1.0 + tau2)


def embed_and_cluster(
    x: np.ndarray, y: np.ndarray, keep: np.ndarray, config: ConditionalConfig, n_states: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the cells of ``x`` and ``y`` in the genes ``keep`` and Ward states.

    Returns ``(labels of x, labels of y, pca_mean, components, centroids)``. The PCA is fitted on at
    most :data:`PCA_MAX_CELLS` cells and the clustering on at most ``config.max_cluster_cells``
    (seeded subsamples); every cell then joins its nearest centroid.
    """
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    n_x, n, d = x.shape[0], x.shape[0] + y.shape[0], x.shape[1]
    rows = np.sort(rng.choice(n, PCA_MAX_CELLS, replace=False)) if n > PCA_MAX_CELLS else np.arange(n)
    sample = np.vstack([x[rows[rows < n_x]], y[rows[rows >= n_x] - n_x]])[:, keep]
    n_pcs = int(min(config.n_pcs, sample.shape[0] - 1, sample.shape[1] - 1))
    pca_mean = np.zeros(d, np.float32)
    components = np.zeros((max(n_pcs, 1), d), np.float32)
    if n_pcs >= 1:
        # the PCA scanpy's sc.pp.pca runs on dense data (scikit-learn, randomised solver for large data)
        pca = PCA(n_components=n_pcs, svd_solver="auto", random_state=seed).fit(sample)
        pca_mean[keep] = pca.mean_
        components[:, keep] = pca.components_
    emb = np.vstack([embed(x, pca_mean, components), embed(y, pca_mean, components)])
    if n_states == 1:
        centroids = emb.mean(0, keepdims=True)
    else:
        idx = np.arange(n)
        if n > config.max_cluster_cells:
            idx = np.sort(rng.choice(n, config.max_cluster_cells, replace=False))
        sub_labels = AgglomerativeClustering(n_clusters=n_states, linkage="ward").fit_predict(emb[idx])
        centroids = np.stack([emb[idx][sub_labels == c].mean(0) for c in range(n_states)])
    # every cell (clustered or not) belongs to its nearest centroid, as ConditionalMap.states decides
    labels = nearest(emb, centroids)
    return labels[:n_x], labels[n_x:], pca_mean, components, centroids


def weighted_bonferroni(p_values: tuple[np.ndarray, ...], weights: tuple[float, ...]) -> np.ndarray:
    """``min(1, min_i p_i / w_i)`` with the weights rescaled to sum 1 (a weight of 0 drops its test).

    Valid by the union bound: ``P(min_i p_i / w_i ≤ α) ≤ Σ_i w_i α = α`` under the null, whatever the
    dependence between the tests, so Benjamini–Hochberg on it keeps the guarantee it has on any valid
    p-values.

    Examples
    --------
    >>> weighted_bonferroni((np.array([0.01, 0.2]), np.array([0.5, 0.05])), (0.5, 0.5)).tolist()
    [0.02, 0.1]
    """
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    out = np.ones_like(np.asarray(p_values[0], dtype=np.float64))
    for p, wi in zip(p_values, w, strict=True):
        if wi > 0:
            out = np.minimum(out, np.asarray(p, dtype=np.float64) / wi)
    return np.minimum(out, 1.0)


@dataclass(frozen=True)
class GlobalTests:
    """Each gene's tests over all cells, in z-scores of the source cells.

    Attributes
    ----------
    shift, p_global
        Mean shift (target − source) and its Welch p-value.
    p_spread
        Brown–Forsythe p-value of a change of spread (``None`` when not tested).
    """

    shift: np.ndarray
    p_global: np.ndarray
    p_spread: np.ndarray | None


def global_tests(zx: np.ndarray, zy: np.ndarray, *, spread: bool) -> GlobalTests:
    """Welch test of each gene's mean shift over all cells and, with ``spread``, Brown–Forsythe's of its spread.

    Brown–Forsythe is a Welch test of the absolute deviations from each group's median.
    """
    shift, se, df = welch(zx, zy)
    p_spread = None
    if spread:
        g, se_g, df_g = welch(np.abs(zx - np.median(zx, 0)), np.abs(zy - np.median(zy, 0)))
        p_spread = two_sided(g / se_g, df_g)
    return GlobalTests(shift=shift, p_global=two_sided(shift / se, df), p_spread=p_spread)


@dataclass(frozen=True)
class StateTests:
    """The cell states and each gene's tests within them, with the combined calls.

    Attributes
    ----------
    source_states, target_states
        State of each source and target cell.
    pca_mean, components, centroids
        The state embedding (:func:`embed_and_cluster`).
    tested
        States with enough source and target cells to be tested.
    shifts, ses, p_state
        Per state and gene: the mean shift, its standard error and Welch p-value (``(n_states, d)``;
        shift 0, error 1 in untested states).
    p_mean
        Weighted-Bonferroni p-value of the mean tests alone (global and best state).
    p_value, adj_p_value, selected
        Each gene's combined p-value (with the spread test), its Benjamini–Hochberg adjustment and
        the selection at the level ``fdr``.
    """

    source_states: np.ndarray
    target_states: np.ndarray
    pca_mean: np.ndarray
    components: np.ndarray
    centroids: np.ndarray
    tested: list[int]
    shifts: np.ndarray
    ses: np.ndarray
    p_state: np.ndarray
    p_mean: np.ndarray
    p_value: np.ndarray
    adj_p_value: np.ndarray
    selected: np.ndarray

    @property
    def n_states(self) -> int:
        """Number of states."""
        return int(self.centroids.shape[0])

    @property
    def n_tested(self) -> int:
        """Number of tested states, at least 1 (the Bonferroni factor of the best state's p-value)."""
        return max(len(self.tested), 1)


def find_states(
    x: np.ndarray,
    y: np.ndarray,
    zx: np.ndarray,
    zy: np.ndarray,
    genes: GlobalTests,
    *,
    config: ConditionalConfig,
    n_states: int,
    fdr: float,
    seed: int,
) -> StateTests:
    """Embed and cluster the cells, test every gene within each state and select genes.

    Two passes: the second embeds the cells without the genes the first selected, so that the
    drug's response does not move the embedding. A gene's p-value is the weighted-Bonferroni
    combination of its global p-value, the Bonferroni-corrected smallest state p-value and its
    spread p-value (``config.weights``); Benjamini–Hochberg at ``fdr`` selects.
    """
    keep = np.ones(x.shape[1], dtype=bool)
    for _ in range(2):
        calls = _state_tests(x, y, zx, zy, genes, keep, config=config, n_states=n_states, fdr=fdr, seed=seed)
        if calls.selected.all() or not calls.selected.any():
            break
        keep = ~calls.selected
    return calls


def _state_tests(
    x: np.ndarray,
    y: np.ndarray,
    zx: np.ndarray,
    zy: np.ndarray,
    genes: GlobalTests,
    keep: np.ndarray,
    *,
    config: ConditionalConfig,
    n_states: int,
    fdr: float,
    seed: int,
) -> StateTests:
    """One pass of :func:`find_states`: states from the genes ``keep``, then the tests and calls."""
    lx, ly, pca_mean, components, centroids = embed_and_cluster(x, y, keep, config, n_states, seed)
    d = x.shape[1]
    tested = [c for c in range(n_states) if min((lx == c).sum(), (ly == c).sum()) >= config.min_cells]
    shifts, ses, dfs = np.zeros((n_states, d)), np.ones((n_states, d)), np.ones((n_states, d))
    for c in tested:
        shifts[c], ses[c], dfs[c] = welch(zx[lx == c], zy[ly == c])
    p_state = two_sided(shifts / ses, dfs)
    k = max(len(tested), 1)
    p_best = p_state[tested].min(0) if tested else np.ones(d)
    p_mean = weighted_bonferroni((genes.p_global, k * p_best), config.weights[:2])
    p_value = (
        p_mean
        if genes.p_spread is None
        else weighted_bonferroni((genes.p_global, k * p_best, genes.p_spread), config.weights)
    )
    adj = benjamini_hochberg(p_value)
    return StateTests(
        source_states=lx,
        target_states=ly,
        pca_mean=pca_mean,
        components=components,
        centroids=centroids,
        tested=tested,
        shifts=shifts,
        ses=ses,
        p_state=p_state,
        p_mean=p_mean,
        p_value=p_value,
        adj_p_value=adj,
        selected=adj <= fdr,
    )


def cochran_q(states: StateTests) -> np.ndarray:
    """P-value of Cochran's Q test that a gene's shift is the same in every tested state (1 with < 2 states)."""
    if len(states.tested) < 2:
        return np.ones(states.shifts.shape[1])
    w = 1.0 / states.ses[states.tested] ** 2
    shifts = states.shifts[states.tested]
    pooled = (w * shifts).sum(0) / w.sum(0)
    q_stat = (w * (shifts - pooled) ** 2).sum(0)
    return stats.chi2.sf(q_stat, len(states.tested) - 1)
