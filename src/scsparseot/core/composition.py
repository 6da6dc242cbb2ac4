"""Changes of the mix of cell states between source and target, apart from changes of genes.

A drug that kills one cell type, or lets another grow, changes every gene's pooled mean where the
types differ, without changing any gene in any cell. :func:`composition_test` reports that change
per state, and the gene tests of :func:`~scsparseot.core.fit_conditional` compare cells of a state
only with cells of the same state, so that a change of mix does not become gene calls.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .calibration import benjamini_hochberg

__all__ = ["COMPOSITION_COLUMNS", "composition_test"]

#: the columns of :func:`composition_test`'s table
COMPOSITION_COLUMNS = (
    "n_source",
    "n_target",
    "share_source",
    "share_target",
    "log2_ratio",
    "p_value",
    "adj_p_value",
    "test",
)


def composition_test(
    source_states: np.ndarray,
    target_states: np.ndarray,
    n_states: int,
    source_replicates: np.ndarray | None = None,
    target_replicates: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Share of source and target cells in each state, their log2 ratio and a test of the change.

    Parameters
    ----------
    source_states, target_states
        State codes (``0 … n_states − 1``) of the source and the target cells.
    n_states
        Number of states.
    source_replicates, target_replicates
        Replicate labels of the cells (``None``: cells are the units). With at least 2 replicates
        on each side, each state's share is tested across replicates: Welch's t on the logit of
        each replicate's share (0.5 added to its counts), paired by label (``scipy.stats.ttest_rel``)
        when every label holds cells on both sides. Otherwise Fisher's exact test on the 2 × 2
        table of cells (in the state or not, source or target), which assumes independent cells.

    Returns
    -------
    dict
        One array per column of ``COMPOSITION_COLUMNS``, one entry per state;
        ``log2_ratio = log2(share_target / share_source)`` with 0.5 added to each count,
        ``adj_p_value`` Benjamini–Hochberg over the states, ``test`` ``"replicates"`` or ``"cells"``.

    Examples
    --------
    >>> import numpy as np
    >>> src = np.repeat([0, 1], [500, 500])
    >>> tgt = np.repeat([0, 1], [125, 500])  # three quarters of state 0 lost
    >>> out = composition_test(src, tgt, 2)
    >>> np.round(out["log2_ratio"], 2).tolist(), bool(out["p_value"][0] < 1e-10)
    ([-1.32, 0.68], True)
    """
    ns = np.bincount(source_states, minlength=n_states).astype(np.int64)
    nt = np.bincount(target_states, minlength=n_states).astype(np.int64)
    big_s, big_t = max(int(ns.sum()), 1), max(int(nt.sum()), 1)
    log2_ratio = np.log2((nt + 0.5) / (big_t + 0.5)) - np.log2((ns + 0.5) / (big_s + 0.5))
    p = None
    if source_replicates is not None and target_replicates is not None:
        p = _replicate_shares(source_states, target_states, n_states, source_replicates, target_replicates)
    test = "replicates" if p is not None else "cells"
    if p is None:
        p = np.array(
            [stats.fisher_exact([[nt[c], big_t - nt[c]], [ns[c], big_s - ns[c]]])[1] for c in range(n_states)]
        )
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    return {
        "n_source": ns,
        "n_target": nt,
        "share_source": ns / big_s,
        "share_target": nt / big_t,
        "log2_ratio": log2_ratio,
        "p_value": p,
        "adj_p_value": benjamini_hochberg(p),
        "test": np.full(n_states, test),
    }


def _replicate_shares(
    source_states: np.ndarray,
    target_states: np.ndarray,
    n_states: int,
    source_replicates: np.ndarray,
    target_replicates: np.ndarray,
) -> np.ndarray | None:
    """Per-state p-values of the logit shares across replicates (``None`` with fewer than 2 on a side)."""
    sides = []
    for states, reps in ((source_states, source_replicates), (target_states, target_replicates)):
        names, codes = np.unique(np.asarray(reps, dtype=str), return_inverse=True)
        counts = np.zeros((names.size, n_states))
        np.add.at(counts, (codes, states), 1.0)
        sides.append((names, counts))
    (names_s, cs), (names_t, ct) = sides
    if min(names_s.size, names_t.size) < 2:
        return None
    logit_s = _logit_shares(cs)
    logit_t = _logit_shares(ct)
    if np.array_equal(names_s, names_t):  # every label on both sides: paired
        p = stats.ttest_rel(logit_t, logit_s, axis=0).pvalue
    else:
        p = stats.ttest_ind(logit_t, logit_s, axis=0, equal_var=False).pvalue
    return np.asarray(p, dtype=np.float64)


def _logit_shares(counts: np.ndarray) -> np.ndarray:
    """Logit of each replicate's share of each state, with 0.5 added to the counts."""
    share = (counts + 0.5) / (counts.sum(1, keepdims=True) + 1.0)
    return np.log(share) - np.log1p(-share)
