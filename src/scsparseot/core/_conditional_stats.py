"""Tests and states of the state-conditional map: Welch tests, the two-group model, the state embedding."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from .conditional_map import _embed, _nearest

if TYPE_CHECKING:
    from .conditional import ConditionalConfig

#: the PCA of the state embedding is fitted on at most this many cells (a seeded subsample)
PCA_MAX_CELLS = 20000


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean shift ``mean(b) − mean(a)`` per column, its standard error and Welch–Satterthwaite degrees of freedom (float64)."""
    f8 = np.float64
    va, vb = a.var(0, ddof=1, dtype=f8) / a.shape[0], b.var(0, ddof=1, dtype=f8) / b.shape[0]
    se = np.maximum(np.sqrt(va + vb), 1e-12)
    df = (va + vb) ** 2 / np.maximum(va**2 / (a.shape[0] - 1) + vb**2 / (b.shape[0] - 1), 1e-300)
    return b.mean(0, dtype=f8) - a.mean(0, dtype=f8), se, np.maximum(df, 1.0)


def _two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of Welch's ``t`` statistics (Student's t with ``df`` degrees of freedom)."""
    return np.minimum(2.0 * stats.t.sf(np.abs(t), df), 1.0)


def _two_groups(z: np.ndarray, n_iter: int = 200) -> tuple[np.ndarray, float]:
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


def _embed_and_cluster(
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
    emb = np.vstack([_embed(x, pca_mean, components), _embed(y, pca_mean, components)])
    if n_states == 1:
        centroids = emb.mean(0, keepdims=True)
    else:
        idx = np.arange(n)
        if n > config.max_cluster_cells:
            idx = np.sort(rng.choice(n, config.max_cluster_cells, replace=False))
        sub_labels = AgglomerativeClustering(n_clusters=n_states, linkage="ward").fit_predict(emb[idx])
        centroids = np.stack([emb[idx][sub_labels == c].mean(0) for c in range(n_states)])
    # every cell (clustered or not) belongs to its nearest centroid, as ConditionalMap.states decides
    labels = _nearest(emb, centroids)
    return labels[:n_x], labels[n_x:], pca_mean, components, centroids
