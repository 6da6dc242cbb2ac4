"""Library calls that replaced hand-written statistics give the numbers the hand-written code gave.

Each reference below is the implementation it replaced, copied verbatim (or the textbook formula
where the code already called the library), and is compared with the code on seeded random data and
its edge cases: ties, p-values of 0 and 1, ``NaN``, empty input, constant genes, small clusters.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from scsparseot.core import benjamini_hochberg
from scsparseot.core.composition import composition_test

ROOT = Path(__file__).resolve().parents[1]


def _suites():
    """The ``heterogeneous`` and ``prediction`` suites (``benchmarks/`` is not a package: put it on the path)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from suites import heterogeneous, prediction

    return heterogeneous, prediction


# ---------------------------------------------------------------------------------- Benjamini–Hochberg
def _bh_reference(p: np.ndarray) -> np.ndarray:
    """``core.benjamini_hochberg`` as it was written by hand before it called scipy."""
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(adj, 1.0)
    return out


def _random_p_values(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform p-values, some small, with ties, exact zeros and exact ones."""
    p = rng.uniform(size=n) ** rng.choice([1.0, 4.0])  # sometimes skewed towards 0, like real signal
    if n >= 4:
        k = max(1, n // 5)
        p[rng.choice(n, k, replace=False)] = rng.choice(p, k)  # ties
        p[rng.choice(n, k, replace=False)] = np.round(rng.uniform(size=k), 1)  # ties on a grid
        p[rng.choice(n)] = 0.0
        p[rng.choice(n)] = 1.0
    return p


SIZES = (0, 1, 2, 3, 5, 10, 37, 200, 1000)


@pytest.mark.parametrize("n", SIZES)
def test_bh_equals_the_hand_written_version(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        p = _random_p_values(rng, n)
        new = benjamini_hochberg(p)
        assert new.dtype == np.float64 and new.shape == p.shape
        np.testing.assert_allclose(new, _bh_reference(p), rtol=0, atol=1e-12)


def test_bh_hand_checked_ties_zeros_ones():
    p = np.array([0.0, 0.02, 0.02, 0.02, 1.0, 0.5, 0.5, 1.0])
    # m = 8: 0 -> 0; the three 0.02 (ranks 2-4) -> 0.02·8/4 = 0.04; 0.5 (ranks 5-6) -> 0.5·8/6; 1 -> 1
    expected = [0.0, 0.04, 0.04, 0.04, 1.0, 2 / 3, 2 / 3, 1.0]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(_bh_reference(p), expected, rtol=0, atol=1e-15)


def test_bh_nan_entries_stay_nan_and_are_not_counted():
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="between 0 and 1"):  # what the wrapper is there for
        stats.false_discovery_control(np.array([0.1, np.nan]))
    for n in (1, 2, 10, 300):
        p = _random_p_values(rng, n)
        missing = rng.random(n) < 0.3
        missing[0] = True
        p[missing] = np.nan
        new = benjamini_hochberg(p)
        assert np.array_equal(np.isnan(new), missing)
        # the tests are adjusted among themselves, as the hand-written code adjusted a NaN-free input
        np.testing.assert_allclose(new[~missing], _bh_reference(p[~missing]), rtol=0, atol=1e-12)
    # the hand-written code let one NaN turn every adjusted p-value into NaN
    assert np.isnan(_bh_reference(np.array([0.01, np.nan, 0.03]))).all()
    np.testing.assert_allclose(benjamini_hochberg(np.array([0.01, np.nan, 0.03])), [0.02, np.nan, 0.03])
    assert np.isnan(benjamini_hochberg(np.full(3, np.nan))).all()


def test_bh_any_shape_is_one_family():
    p = _random_p_values(np.random.default_rng(3), 60).reshape(5, 12)
    new = benjamini_hochberg(p)
    assert new.shape == (5, 12)
    np.testing.assert_allclose(new.ravel(), _bh_reference(p.ravel()), rtol=0, atol=1e-12)
    # what core.conditional did by hand: ravel, adjust, reshape
    np.testing.assert_array_equal(new, benjamini_hochberg(p.ravel()).reshape(p.shape))


def test_bh_returns_a_new_array_and_rejects_non_p_values():
    p = np.array([0.3])
    out = benjamini_hochberg(p)
    out[0] = 0.0
    assert p[0] == 0.3  # scipy returns a single p-value as given; the wrapper copies
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg(np.array([0.2, 1.5]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg(np.array([-0.1, 0.5]))


@pytest.mark.skipif(importlib.util.find_spec("statsmodels") is None, reason="statsmodels is not installed")
@pytest.mark.parametrize("n", [n for n in SIZES if n > 0])
def test_bh_equals_statsmodels(n):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(100 + n)
    for _ in range(10):
        p = _random_p_values(rng, n)
        np.testing.assert_allclose(
            benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], rtol=0, atol=1e-12
        )


# ------------------------------------------------------------------------- Welch (composition, replicates)
def _welch_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-sided p-value of Welch's t of ``mean(b) − mean(a)`` per column, Welch–Satterthwaite's df."""
    va, vb = a.var(0, ddof=1) / a.shape[0], b.var(0, ddof=1) / b.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (b.mean(0) - a.mean(0)) / np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (a.shape[0] - 1) + vb**2 / (b.shape[0] - 1))
    return 2.0 * stats.t.sf(np.abs(t), df)


def _logit_share_reference(states: np.ndarray, reps: np.ndarray, n_states: int) -> np.ndarray:
    names = sorted(set(reps.tolist()))
    counts = np.array([[np.sum((reps == r) & (states == c)) for c in range(n_states)] for r in names], float)
    share = (counts + 0.5) / (counts.sum(1, keepdims=True) + 1.0)
    return np.log(share / (1.0 - share))


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # the constant edge cases
def test_composition_replicate_test_is_plain_welch():
    rng = np.random.default_rng(11)
    n_states = 5
    for trial in range(10):
        n_s, n_t = rng.integers(2, 6, size=2)
        src_reps = rng.choice([f"s{i}" for i in range(n_s)], 400)
        tgt_reps = rng.choice([f"t{i}" for i in range(n_t)], 300)  # other labels: unpaired
        src = rng.choice(n_states - 1, 400, p=[0.4, 0.3, 0.2, 0.1])  # state 4 empty on both sides
        tgt = rng.choice(n_states - 1, 300, p=[0.25, 0.25, 0.25, 0.25])
        out = composition_test(src, tgt, n_states, src_reps, tgt_reps)
        assert (out["test"] == "replicates").all()
        ref = _welch_reference(
            _logit_share_reference(src, src_reps, n_states), _logit_share_reference(tgt, tgt_reps, n_states)
        )
        # scipy's ttest_ind(equal_var=False) is this Welch test; where it has no p-value (NaN), the
        # composition table reports 1, as it always did
        finite = np.isfinite(ref)
        np.testing.assert_allclose(out["p_value"][finite], ref[finite], rtol=0, atol=1e-12)
        assert (out["p_value"][~finite] == 1.0).all()
        if trial == 0:
            assert finite[:4].all()
    # the edge: every replicate with the same share of a state on both sides has no variance -> 1
    reps = np.repeat(["a", "b", "c"], 10)
    states = np.tile(np.repeat([0, 1], 5), 3)
    same = composition_test(states, states, 3, reps, np.char.add(reps, "_t"))
    assert np.isnan(_welch_reference(np.zeros((3, 1)), np.zeros((3, 1)))).all()
    np.testing.assert_array_equal(same["p_value"], [1.0, 1.0, 1.0])


# ------------------------------------------------------------------- per-cluster Welch + BH (benchmarks)
def _cluster_loop_heterogeneous_reference(x, y, lx, ly, n_clusters, q=0.05):
    """The per-cluster loop of ``heterogeneous.cluster_shift`` before it was factored out."""
    d = x.shape[1]
    shift = np.zeros((n_clusters, d))
    qvalue = np.ones((n_clusters, d))
    for c in range(n_clusters):
        a, b = x[lx == c], y[ly == c]
        if min(a.shape[0], b.shape[0]) < 3:
            continue
        diff = b.mean(0) - a.mean(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = stats.ttest_ind(b, a, axis=0, equal_var=False).pvalue
        p = np.where(np.isfinite(p), p, 1.0)
        qvalue[c] = stats.false_discovery_control(p)
        shift[c] = np.where(qvalue[c] < q, diff, 0.0)
    return shift, qvalue


def _cluster_loop_prediction_reference(x, y, lx, ly):
    """The per-cluster loop of ``prediction.cluster_shift`` before it was factored out."""
    shift = np.zeros((8, x.shape[1]), dtype=np.float32)
    for c in range(8):
        a, b = x[lx == c], y[ly == c]
        if min(a.shape[0], b.shape[0]) < 3:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            p = stats.ttest_ind(b, a, axis=0, equal_var=False).pvalue
        q = stats.false_discovery_control(np.where(np.isfinite(p), p, 1.0))
        shift[c] = np.where(q < 0.05, b.mean(0) - a.mean(0), 0.0)
    return shift


def _clustered(seed: int, dtype=np.float32):
    """8 clusters: 0-2 shifted in some genes, 5 too small on the treated side, 7 empty; gene 0 constant in 1."""
    rng = np.random.default_rng(seed)
    lx = rng.choice(7, 300)
    ly = rng.choice([0, 1, 2, 3, 4, 6], 250)
    ly[:2] = 5  # 2 treated cells: untested
    x = rng.normal(size=(300, 12)).astype(dtype)
    y = rng.normal(size=(250, 12)).astype(dtype)
    y[ly == 0, :3] += 1.5
    y[ly == 1, 3:5] -= 1.0
    y[ly == 2, 6] += 0.4
    x[lx == 1, 0] = 2.0  # constant on both sides: NaN p-value, counted as 1
    y[ly == 1, 0] = 2.0
    x[lx == 3, 1] = 0.0  # constant on each side, different constants: p = 0
    y[ly == 3, 1] = 1.0
    return x, y, lx, ly


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # the constant genes
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_tests_equal_the_old_loops(seed):
    heterogeneous, _ = _suites()
    for dtype in (np.float32, np.float64):
        x, y, lx, ly = _clustered(seed, dtype)
        shift, qvalue = heterogeneous.cluster_tests(x, y, lx, ly, 8)
        ref_shift, ref_q = _cluster_loop_heterogeneous_reference(x, y, lx, ly, 8)
        np.testing.assert_array_equal(shift, ref_shift)
        np.testing.assert_array_equal(qvalue, ref_q)
        assert shift.dtype == ref_shift.dtype == np.float64
        # the prediction suite's float32 shifts from the same loop
        pred = heterogeneous.cluster_tests(x, y, lx, ly, 8, q=0.05, min_cells=3)[0].astype(np.float32)
        np.testing.assert_array_equal(pred, _cluster_loop_prediction_reference(x, y, lx, ly))
        # the example has what the test is about: called shifts, untested clusters, both edges
        assert (
            np.abs(shift[0, :3]).min() > 1.0 and (qvalue[[5, 7]] == 1.0).all() and (shift[[5, 7]] == 0).all()
        )
        assert qvalue[1, 0] == 1.0 and shift[1, 0] == 0.0
        assert qvalue[3, 1] == 0.0 and shift[3, 1] == 1.0


def _old_heterogeneous_cluster_shift(x, y, *, n_clusters=8, n_pcs=30, q=0.05, seed=0):
    """``heterogeneous.cluster_shift`` before its loop was factored out (copied)."""
    import scanpy as sc
    from scipy.cluster.vq import kmeans2

    z = np.vstack([x, y]).astype(np.float32)
    pcs = sc.pp.pca(z, n_comps=min(n_pcs, min(z.shape) - 1), random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One of the clusters is empty", category=UserWarning)
        _, labels = kmeans2(pcs.astype(np.float64), n_clusters, minit="++", rng=np.random.default_rng(seed))
    lx, ly = labels[: x.shape[0]], labels[x.shape[0] :]
    shift, qvalue = _cluster_loop_heterogeneous_reference(x, y, lx, ly, n_clusters, q)
    return {"labels_x": lx, "labels_y": ly, "shift": shift, "qvalue": qvalue, "displacement": shift[lx]}


def _old_prediction_cluster_shift(x, y, seed):
    """``prediction.cluster_shift`` before its loop was factored out (copied)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    z = np.vstack([x, y])
    pca = PCA(n_components=min(30, min(z.shape) - 1), random_state=seed).fit(z)
    km = KMeans(n_clusters=8, n_init=4, random_state=seed).fit(pca.transform(z))
    lx, ly = km.labels_[: x.shape[0]], km.labels_[x.shape[0] :]
    shift = _cluster_loop_prediction_reference(x, y, lx, ly)
    return lambda a, _labels: a + shift[km.predict(pca.transform(a))]


def test_cluster_shift_methods_unchanged():
    heterogeneous, prediction = _suites()
    x, y, _, _ = _clustered(4)
    x[:100, 6:] += 3.0  # a cell type the clustering can find
    y[:80, 6:] += 3.0
    y[:80, 8] += 2.0  # which responds
    new = heterogeneous.cluster_shift(x, y, seed=3)
    old = _old_heterogeneous_cluster_shift(x, y, seed=3)
    assert new.keys() == old.keys()
    for key in old:
        np.testing.assert_array_equal(new[key], old[key])
    assert np.abs(new["shift"]).max() > 1.0  # something was called
    held = np.random.default_rng(5).normal(size=(40, 12)).astype(np.float32)
    moved = prediction.cluster_shift(x, y, seed=3)(held, None)
    np.testing.assert_array_equal(moved, _old_prediction_cluster_shift(x, y, 3)(held, None))
    assert moved.dtype == np.float32 and np.abs(moved - held).max() > 0.5
