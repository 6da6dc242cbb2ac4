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

from ._replicate_stats import group_means, moderated_t
from ._state_geometry import embed, nearest
from .calibration import benjamini_hochberg

if TYPE_CHECKING:
    from ._replicate_stats import ReplicateDesign
    from .conditional_config import ConditionalConfig
    from .source_side import SourceSide

#: the PCA of the state embedding is fitted on at most this many cells (a seeded subsample)
PCA_MAX_CELLS = 20000
#: a gene the pooled tests call is left out of the second pass's embedding when its within-state
#: tests reach this unadjusted p-value (:func:`find_states`)
EXCLUDE_P = 0.5


@dataclass(frozen=True)
class Moments:
    """Each column's count, mean and variance (``ddof=1``) of one side of a test (float64)."""

    n: int
    mean: np.ndarray
    var: np.ndarray


def moments(a: np.ndarray) -> Moments:
    """The :class:`Moments` of the columns of ``a``."""
    f8 = np.float64
    return Moments(a.shape[0], a.mean(0, dtype=f8), a.var(0, ddof=1, dtype=f8))


def welch(a: np.ndarray | Moments, b: np.ndarray | Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean shift ``mean(b) − mean(a)`` per column, its standard error and degrees of freedom (float64).

    ``a`` and ``b`` are the two sides' cells or their :class:`Moments` (a side shared by several
    tests is summarised once).

    The error is the larger of Welch's (each side's own variance) and Student's (the two sides'
    pooled variance), with the degrees of freedom of the one taken (Welch–Satterthwaite's, or
    ``n_a + n_b − 2``). Without an effect both sides have one variance and the two errors agree; a
    small side whose sample variance happens to be small (a zero-inflated gene with no counts in
    its few cells) would make Welch's error too small and its test too liberal, which the pooled
    error prevents.

    This is not ``scipy.stats.ttest_ind(a, b, equal_var=False)``, for two reasons: the larger of
    the two errors is taken, where scipy's is always Welch's, and a side can be given by its
    :class:`Moments` alone, so that a side shared by many tests (the source cells) is summarised
    once, where scipy needs the cells of both sides at every call.
    """
    a = a if isinstance(a, Moments) else moments(a)
    b = b if isinstance(b, Moments) else moments(b)
    n_a, n_b, var_a, var_b = a.n, b.n, a.var, b.var
    va, vb = var_a / n_a, var_b / n_b
    se_welch = np.sqrt(va + vb)
    df_welch = (va + vb) ** 2 / np.maximum(va**2 / (n_a - 1) + vb**2 / (n_b - 1), 1e-300)
    pooled = ((n_a - 1) * var_a + (n_b - 1) * var_b) / max(n_a + n_b - 2, 1)
    se_pooled = np.sqrt(pooled * (1.0 / n_a + 1.0 / n_b))
    use_welch = se_welch >= se_pooled
    se = np.maximum(np.where(use_welch, se_welch, se_pooled), 1e-12)
    df = np.where(use_welch, df_welch, float(n_a + n_b - 2))
    return b.mean - a.mean, se, np.maximum(df, 1.0)


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


def source_pca(x: np.ndarray, keep: np.ndarray, n_pcs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of at most :data:`PCA_MAX_CELLS` source cells (a seeded subsample) in the genes ``keep``.

    Returns the mean and the components over all genes (zero outside ``keep``), float32.
    """
    from sklearn.decomposition import PCA

    n_x, d = x.shape
    rows = np.arange(n_x)
    if n_x > PCA_MAX_CELLS:
        rows = np.sort(np.random.default_rng(seed).choice(n_x, PCA_MAX_CELLS, replace=False))
    sample = x[rows][:, keep]
    n_pcs = int(min(n_pcs, sample.shape[0] - 1, sample.shape[1] - 1))
    pca_mean = np.zeros(d, np.float32)
    components = np.zeros((max(n_pcs, 1), d), np.float32)
    if n_pcs >= 1:
        # the PCA scanpy's sc.pp.pca runs on dense data (scikit-learn, randomised solver for large data)
        pca = PCA(n_components=n_pcs, svd_solver="auto", random_state=seed).fit(sample)
        pca_mean[keep] = pca.mean_
        components[:, keep] = pca.components_
    return pca_mean, components


def embed_and_cluster(
    source: SourceSide,
    y: np.ndarray,
    keep: np.ndarray,
    config: ConditionalConfig,
    n_states: int,
    seed: int,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """PCA of the source cells in the genes ``keep``, Ward states of the source and target cells ``y`` (or the given ``labels``).

    Returns ``(labels of the source cells, labels of y, pca_mean, components, centroids)``. The PCA is fitted on at
    most :data:`PCA_MAX_CELLS` source (control) cells, so that its axes are the source's own cell
    states: a response of the target cells (a switch of a share of them, say) gets no axis of its
    own and does not split them off into a state without source cells. The clustering then groups
    at most ``config.max_cluster_cells`` cells of both sides alike (seeded subsamples; so that,
    without an effect, source and target cells stay exchangeable within a state), and every cell
    joins its nearest centroid. With ``labels`` (state codes
    ``0 … n_states − 1`` of the source and the target cells) the states are those labels and the
    centroids their mean embeddings (where a new cell without a label goes). In every gene
    (``keep`` all true) the source's PCA and embedding are ``source``'s own, computed once; the
    PCA's subsample and solver take ``source.seed``, the clustering's subsample ``seed``.
    """
    from sklearn.cluster import AgglomerativeClustering

    rng = np.random.default_rng(seed)
    n_x, n = source.shape[0], source.shape[0] + y.shape[0]
    if keep.all():
        pca_mean, components, emb_x = source.pca_mean, source.components, source.embedding
    else:
        pca_mean, components = source_pca(source.x, keep, config.n_pcs, source.seed)
        emb_x = embed(source.x, pca_mean, components)
    emb = np.vstack([emb_x, embed(y, pca_mean, components)])
    if labels is not None:
        codes = np.r_[labels[0], labels[1]]
        counts = np.maximum(np.bincount(codes, minlength=n_states), 1)[:, None]
        centroids = np.stack(
            [np.bincount(codes, emb[:, j], minlength=n_states) for j in range(emb.shape[1])], 1
        )
        return labels[0], labels[1], pca_mean, components, (centroids / counts).astype(np.float32)
    if n_states == 1:
        centroids = emb.mean(0, keepdims=True)
    else:
        idx = np.arange(n)
        if n > config.max_cluster_cells:
            idx = np.sort(rng.choice(n, config.max_cluster_cells, replace=False))
        sub_labels = AgglomerativeClustering(n_clusters=n_states, linkage="ward").fit_predict(emb[idx])
        centroids = np.stack([emb[idx][sub_labels == c].mean(0) for c in range(n_states)])
    # every cell (clustered or not) belongs to its nearest centroid, as ConditionalMap.states decides
    labels_ = nearest(emb, centroids)
    return labels_[:n_x], labels_[n_x:], pca_mean, components, centroids


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
        Mean shift (target − source) and its p-value.
    p_spread
        P-value of a change of spread (``None`` when not tested).
    """

    shift: np.ndarray
    p_global: np.ndarray
    p_spread: np.ndarray | None


def global_tests(
    zx: np.ndarray, zy: np.ndarray, *, spread: bool, source: SourceSide | None = None
) -> GlobalTests:
    """Welch test of each gene's mean shift over all cells pooled and, with ``spread``, Brown–Forsythe's of its spread.

    Brown–Forsythe is a Welch test of the absolute deviations from each group's median. Pooled over
    states, these tests also see a change of the mix of states: genes are called by the stratified
    tests (these pooled ones only where no state has cells enough on both sides, :func:`cell_tests`),
    and :func:`find_states` uses them to keep responding genes out of the state embedding. With
    ``source`` (whose ``zx`` these are), the source side of both tests is its precomputed moments.
    """
    shift, se, df = welch(zx if source is None else source.z_moments, zy)
    p_spread = None
    if spread:
        dev_x = np.abs(zx - np.median(zx, 0)) if source is None else source.spread_moments
        g, se_g, df_g = welch(dev_x, np.abs(zy - np.median(zy, 0)))
        p_spread = two_sided(g / se_g, df_g)
    return GlobalTests(shift=shift, p_global=two_sided(shift / se, df), p_spread=p_spread)


def stratified(
    shifts: np.ndarray, ses: np.ndarray, dfs: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Shifts of several states combined with fixed ``weights``: the combined shift and its p-value.

    ``Σ_c w_c b_c`` with variance ``Σ_c w_c² se_c²`` and Welch–Satterthwaite degrees of freedom
    ``(Σ_c v_c)² / Σ_c v_c² / df_c`` (``v_c = w_c² se_c²``). With weights fixed by the source
    composition it compares like with like: a change of the mix of states, with no shift within
    any state, leaves every ``b_c`` at zero in expectation (direct standardisation).
    """
    w = (weights / weights.sum())[:, None]
    v = (w * ses) ** 2
    shift = (w * shifts).sum(0)
    se = np.sqrt(np.maximum(v.sum(0), 1e-24))
    df = v.sum(0) ** 2 / np.maximum((v**2 / dfs).sum(0), 1e-300)
    return shift, two_sided(shift / se, np.maximum(df, 1.0))


@dataclass(frozen=True)
class GeneTests:
    """Each gene's tests within the states and combined over them (cells or replicates as units).

    Attributes
    ----------
    tested
        The states tested.
    shifts, ses, p_state
        Per state and gene: the shift, its standard error (for a replicate test the error that
        makes ``shift / se`` the normal quantile of its p-value) and p-value; shift 0, error 1 and
        p-value 1 in untested states.
    overall
        The stratified tests over the tested states (:func:`stratified`), weights fixed by the
        source composition.
    level
        ``"cells"`` or ``"replicates"``: the units the tests count.
    """

    tested: list[int]
    shifts: np.ndarray
    ses: np.ndarray
    p_state: np.ndarray
    overall: GlobalTests
    level: str


def cell_tests(
    zx: np.ndarray,
    zy: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    tested: list[int],
    n_states: int,
    *,
    spread: bool,
) -> GeneTests:
    """Welch tests within each tested state, cells as units, and their stratified combination.

    The spread test is Brown–Forsythe's within each state (absolute deviations from each side's
    median there), combined alike.
    """
    d = zx.shape[1]
    shifts, ses, dfs = np.zeros((n_states, d)), np.ones((n_states, d)), np.ones((n_states, d))
    g, g_se, g_df = (np.zeros((len(tested), d)), np.ones((len(tested), d)), np.ones((len(tested), d)))
    for i, c in enumerate(tested):
        a, b = zx[lx == c], zy[ly == c]
        shifts[c], ses[c], dfs[c] = welch(a, b)
        if spread:
            g[i], g_se[i], g_df[i] = welch(np.abs(a - np.median(a, 0)), np.abs(b - np.median(b, 0)))
    p_state = two_sided(shifts / ses, dfs)
    if not tested:
        return GeneTests(tested, shifts, ses, p_state, global_tests(zx, zy, spread=spread), "cells")
    w = np.bincount(lx, minlength=n_states)[tested].astype(np.float64)
    shift, p_global = stratified(shifts[tested], ses[tested], dfs[tested], w)
    p_spread = stratified(g, g_se, g_df, w)[1] if spread else None
    return GeneTests(tested, shifts, ses, p_state, GlobalTests(shift, p_global, p_spread), "cells")


def replicate_tests(
    zx: np.ndarray,
    zy: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    tested: list[int],
    n_states: int,
    design: ReplicateDesign,
    *,
    spread: bool,
    min_cells: int,
) -> GeneTests | None:
    """Moderated t tests across replicates within each state and over the states (``None``: none possible).

    Within state ``c`` each replicate with at least ``min_cells`` of its cells is one observation
    (their mean). Over the states, each replicate's observation is its states' means weighted by
    the source composition, over the states every used replicate has cells in (so that a change of
    mix does not move it); the spread test does the same with each cell's absolute deviation from
    its side's median in its state.
    """
    d, n_rep = zx.shape[1], design.names.size
    rep = np.r_[design.source, design.target]
    side = np.r_[np.zeros(len(zx), bool), np.ones(len(zy), bool)]
    states = np.r_[lx, ly]
    z = np.vstack([zx, zy])
    shifts, ses, p_state = np.zeros((n_states, d)), np.ones((n_states, d)), np.ones((n_states, d))
    per_state, kept = {}, []
    for c in tested:
        rows = states == c
        groups = rep[rows] + n_rep * side[rows]  # replicate × side
        means, counts = group_means(z[rows], groups, 2 * n_rep)
        use = counts >= min_cells
        per_state[c] = (means, counts)
        res = _replicate_fit(means[use], np.flatnonzero(use), n_rep)
        if res is None:
            continue
        kept.append(c)
        shifts[c], se, p_state[c], _ = res
        ses[c] = _normal_se(shifts[c], se, p_state[c])
    if not kept:
        return None
    w = np.bincount(lx, minlength=n_states).astype(np.float64)
    overall = _replicate_overall(per_state, kept, w, n_rep, min_cells)
    if overall is None:
        return None
    p_spread = None
    if spread:
        dev = np.abs(z - _side_state_medians(z, states, side, kept))
        dev_state = {}
        for c in kept:
            rows = states == c
            dev_state[c] = group_means(dev[rows], rep[rows] + n_rep * side[rows], 2 * n_rep)
        spread_test = _replicate_overall(dev_state, kept, w, n_rep, min_cells)
        p_spread = np.ones(d) if spread_test is None else spread_test[1]
    return GeneTests(kept, shifts, ses, p_state, GlobalTests(overall[0], overall[1], p_spread), "replicates")


def _replicate_fit(
    means: np.ndarray, groups: np.ndarray, n_rep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """:func:`moderated_t` of rows of replicate means (``groups``: replicate + ``n_rep`` × side), blocked when paired."""
    treated, rep = groups >= n_rep, groups % n_rep
    if not treated.any() or treated.all():
        return None
    paired = np.intersect1d(rep[treated], rep[~treated]).size > 0
    return moderated_t(means, treated, rep if paired else None)


def _replicate_overall(
    per_state: dict[int, tuple[np.ndarray, np.ndarray]],
    kept: list[int],
    weights: np.ndarray,
    n_rep: int,
    min_cells: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each replicate's composition-weighted mean over the states it has cells in, tested across replicates."""
    counts = np.stack([per_state[c][1] for c in kept])  # states × (replicate × side)
    used = counts.sum(0) >= min_cells
    common = [i for i, c in enumerate(kept) if np.all(counts[i, used] > 0)]
    if not common:
        return None
    w = weights[[kept[i] for i in common]]
    profile = sum(wi * per_state[kept[i]][0] for wi, i in zip(w, common, strict=True)) / w.sum()
    res = _replicate_fit(profile[used], np.flatnonzero(used), n_rep)
    if res is None:
        return None
    return res[0], res[2]


def _side_state_medians(z: np.ndarray, states: np.ndarray, side: np.ndarray, kept: list[int]) -> np.ndarray:
    """Each cell's side-and-state median of every gene (the cell itself where its state is not kept)."""
    out = z.copy()
    for c in kept:
        for s in (False, True):
            rows = (states == c) & (side == s)
            if rows.any():
                out[rows] = np.median(z[rows], 0)
    return out


def _normal_se(shift: np.ndarray, se: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The error that makes ``shift / error`` the two-sided normal quantile of ``p`` (``se`` where undefined)."""
    q = stats.norm.isf(np.clip(p, 1e-300, 1.0) / 2)
    ok = (shift != 0) & (q > 1e-8)
    return np.where(ok, np.abs(shift) / np.where(ok, q, 1.0), se)


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
        States with enough source and target cells (or replicates) to be tested.
    shifts, ses, p_state
        Per state and gene: the mean shift, its standard error and p-value (``(n_states, d)``;
        shift 0, error 1 in untested states).
    overall
        Each gene's stratified tests over the states (shift, p-value, spread p-value).
    level
        ``"cells"`` or ``"replicates"``: the units of the tests.
    p_mean
        Weighted-Bonferroni p-value of the mean tests alone (stratified and best state).
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
    overall: GlobalTests
    level: str
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
    source: SourceSide,
    y: np.ndarray,
    zy: np.ndarray,
    pooled: GlobalTests,
    *,
    config: ConditionalConfig,
    n_states: int,
    fdr: float,
    seed: int,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
    replicates: ReplicateDesign | None = None,
) -> StateTests:
    """Embed and cluster the cells (or take their ``labels``), test every gene within each state and select genes.

    Two passes: the second embeds the cells without the genes that respond, so that the drug's
    response does not move the embedding: those the first pass selected, and those the pooled
    tests (``pooled``, :func:`global_tests`) call where the within-state tests see a shift too
    (unadjusted p ≤ :data:`EXCLUDE_P`; a response can split its cells off in the first pass's
    states and so look weaker within them). A gene the pooled tests call but no state sees moving
    is a marker of states whose mix changed: it stays in the embedding and is not called. A
    gene's p-value is the weighted-Bonferroni combination of its stratified p-value, the
    Bonferroni-corrected smallest state p-value and its stratified spread p-value
    (``config.weights``; a caller with ``labels`` passes :meth:`ConditionalConfig.labelled`);
    Benjamini–Hochberg at ``fdr`` selects. With ``replicates``, every test
    counts replicates, not cells (:func:`replicate_tests`). ``source`` is the source cells and
    their share of the work (:func:`~scsparseot.core.prepare_source`).
    """
    keep = np.ones(source.shape[1], dtype=bool)
    for _ in range(2):
        calls = _state_tests(
            source,
            y,
            zy,
            keep,
            config=config,
            n_states=n_states,
            fdr=fdr,
            seed=seed,
            labels=labels,
            replicates=replicates,
        )
        pooled_calls = (
            benjamini_hochberg(_combined(pooled, calls.p_state, calls.tested, config.weights)[1]) <= fdr
        )
        drop = calls.selected | (pooled_calls & (calls.p_mean <= EXCLUDE_P))
        if drop.all() or not drop.any():
            break
        keep = ~drop
    return calls


def _state_tests(
    source: SourceSide,
    y: np.ndarray,
    zy: np.ndarray,
    keep: np.ndarray,
    *,
    config: ConditionalConfig,
    n_states: int,
    fdr: float,
    seed: int,
    labels: tuple[np.ndarray, np.ndarray] | None,
    replicates: ReplicateDesign | None,
) -> StateTests:
    """One pass of :func:`find_states`: states from the genes ``keep``, then the tests and calls."""
    zx = source.zx
    lx, ly, pca_mean, components, centroids = embed_and_cluster(
        source, y, keep, config, n_states, seed, labels
    )
    tested = [c for c in range(n_states) if min((lx == c).sum(), (ly == c).sum()) >= config.min_cells]
    tests = None
    if replicates is not None:
        tests = replicate_tests(
            zx,
            zy,
            lx,
            ly,
            tested,
            n_states,
            replicates,
            spread=config.spread,
            min_cells=config.min_replicate_cells,
        )
    if tests is None:
        tests = cell_tests(zx, zy, lx, ly, tested, n_states, spread=config.spread)
    p_mean, p_value = _combined(tests.overall, tests.p_state, tests.tested, config.weights)
    adj = benjamini_hochberg(p_value)
    return StateTests(
        source_states=lx,
        target_states=ly,
        pca_mean=pca_mean,
        components=components,
        centroids=centroids,
        tested=tests.tested,
        shifts=tests.shifts,
        ses=tests.ses,
        p_state=tests.p_state,
        overall=tests.overall,
        level=tests.level,
        p_mean=p_mean,
        p_value=p_value,
        adj_p_value=adj,
        selected=adj <= fdr,
    )


def _combined(
    genes: GlobalTests, p_state: np.ndarray, tested: list[int], weights: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted-Bonferroni p-values of the mean tests alone and with the spread test."""
    k = max(len(tested), 1)
    p_best = p_state[tested].min(0) if tested else np.ones(p_state.shape[1])
    p_mean = weighted_bonferroni((genes.p_global, k * p_best), weights[:2])
    if genes.p_spread is None:
        return p_mean, p_mean
    return p_mean, weighted_bonferroni((genes.p_global, k * p_best, genes.p_spread), weights)


def cochran_q(states: StateTests) -> np.ndarray:
    """P-value of Cochran's Q test that a gene's shift is the same in every tested state (1 with < 2 states)."""
    if len(states.tested) < 2:
        return np.ones(states.shifts.shape[1])
    w = 1.0 / states.ses[states.tested] ** 2
    shifts = states.shifts[states.tested]
    pooled = (w * shifts).sum(0) / w.sum(0)
    q_stat = (w * (shifts - pooled) ** 2).sum(0)
    return stats.chi2.sf(q_stat, len(states.tested) - 1)
