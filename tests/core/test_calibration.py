from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsparseot.core import benjamini_hochberg, empirical_pvalues, gene_scores, null_scores, null_split_sizes


def test_bh_hand_computed():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    # m = 10: p_(i) * 10 / i, then running minimum from the top
    expected = np.array([0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.10571428571428572, 0.216, 0.216, 0.216])
    np.testing.assert_allclose(benjamini_hochberg(p), expected)


@settings(max_examples=50, database=None, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
def test_bh_properties(values):
    p = np.array(values)
    adj = benjamini_hochberg(p)
    assert np.all(adj >= p - 1e-12)
    assert np.all(adj <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-12)  # monotone in p


def test_empirical_pvalues_count_then_tail():
    rng = np.random.default_rng(0)
    null = rng.exponential(1.0, 2000)
    scores = np.array([0.0, 1.0, 3.0, 12.0])
    p = empirical_pvalues(scores, null)
    assert p[0] == 1.0
    # counted where enough null values lie beyond the score, ≈ exp(-s) for an exponential null
    assert p[1] == pytest.approx(np.exp(-1.0), abs=0.03)
    assert p[2] == pytest.approx(np.exp(-3.0), rel=0.3)
    # beyond every null value the exponential tail model gives ≈ exp(-12), far below 1/(N+1)
    assert p[3] < 1 / 2001
    assert np.exp(-12.0) / 10 < p[3] < np.exp(-12.0) * 10  # within an order of magnitude
    assert np.all(np.diff(p) <= 0)


def test_uniform_pvalues_under_the_null():
    rng = np.random.default_rng(1)
    null = rng.gamma(2.0, 1.0, 3000)
    scores = rng.gamma(2.0, 1.0, 3000)
    p = empirical_pvalues(scores, null)
    for q in (0.01, 0.05, 0.2, 0.5):
        assert abs((p <= q).mean() - q) < 0.02 + q * 0.25


def test_gene_scores_and_null_scores():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 3)) * np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(gene_scores(np.ones((5, 3)) * 2.0, np.array([1.0, 2.0, 0.0])), [2.0, 1.0, 2.0])
    calls = []

    def displace(a, b, seed):
        calls.append((a.shape, b.shape, seed))
        return b.mean(0) - a  # displacement of each cell to the other half's mean

    out = null_scores(x, displace, n_null=3, seed=5)
    assert out.shape == (3, 3)
    assert [c[0] for c in calls] == [(20, 3)] * 3
    assert len({c[2] for c in calls}) == 3
    # scores are standardised: similar across genes whatever their scale
    assert np.ptp(out.mean(0)) < 0.5
    with pytest.raises(ValueError, match="at least 4"):
        null_scores(x[:3], displace, n_null=1)


def test_null_matches_the_target_size_when_the_source_allows():
    # many control cells, few treated: the null's target part has the real target's size, its
    # source part the rest (a half-vs-half null would be quieter than the real comparison)
    assert null_split_sizes(2000, 200) == (1800, 200, True)
    assert null_split_sizes(400, 200) == (200, 200, True)
    # too few control cells for that: halves, which are noisier than the real comparison
    assert null_split_sizes(300, 250) == (150, 150, False)
    assert null_split_sizes(300) == (150, 150, False)
    x = np.random.default_rng(3).normal(size=(100, 2))
    sizes = []
    null_scores(x, lambda a, b, s: sizes.append((len(a), len(b))) or np.zeros_like(a), n_null=2, n_target=10)
    assert sizes == [(90, 10), (90, 10)]


def test_pvalues_have_a_floor():
    # the fitted tail is trusted at most two decades below the smallest count
    null = np.random.default_rng(4).exponential(1.0, 99)
    p = empirical_pvalues(np.array([1e6]), null)
    assert p[0] == pytest.approx(0.01 / 100)
