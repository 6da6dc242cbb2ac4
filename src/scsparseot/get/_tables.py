"""Tidy tables of what ``tl.sparse_ot`` wrote (read through :mod:`scsparseot._schema`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _schema
from .._docs import doc_adata, doc_key, doc_params

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from anndata import AnnData

    from ..core import ConditionalMap, SparseOTMap

__all__ = ["map", "perturbed_genes", "summary", "training_history"]


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def perturbed_genes(
    adata: AnnData,
    target: str | Sequence[str] | None = None,
    *,
    key: str = "sparse_ot",
    top_n: int | None = None,
    min_support: float | None = None,
    selected_only: bool = False,
) -> pd.DataFrame:
    """Per-gene results, one row per (target, gene), ranked within each target.

    Parameters
    ----------
    {doc_adata}
    target
        One target or a list; ``None`` returns every fitted target.
    {doc_key}
    top_n
        Keep the ``top_n`` best-ranked genes of each target.
    min_support
        Keep genes that move in at least this share of source cells.
    selected_only
        Keep only the selected genes.

    Returns
    -------
    DataFrame with columns
    ``target, gene, log_fc, mean_displacement, mean_abs_displacement, support_fraction, rank, selected, p_value, adj_p_value, selection_frequency``
    (always these, whatever the filters): ``log_fc``, the log2 fold change of the target's and the
    source's means on the count scale where the data are log-normalised (``adata.uns["log1p"]``
    set by :func:`scanpy.pp.log1p`), as :func:`scanpy.tl.rank_genes_groups` computes its
    ``logfoldchanges`` (``NaN`` otherwise, and in results written before 0.1.0); the signed and absolute mean displacement over
    source cells (data units), the share of source cells in which the gene moves, the rank (1 = first; for the
    conditional map by p-value, then mean absolute displacement; otherwise by mean absolute
    displacement, most moved first), whether the gene is selected (adjusted p-value at most the
    fit's ``fdr`` and, for the sparse ICNN, support at least its ``min_support``), the p-value
    (the conditional map's own tests, or the sparse ICNN's empirical p-value against its
    control-vs-control nulls) and its Benjamini–Hochberg adjustment (``NaN`` with ``fdr=None``),
    and the share of stability refits that select it (``NaN`` unless ``n_runs > 0``).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> df = sso.get.perturbed_genes(adata, top_n=3)
    >>> df.columns.tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['target', 'gene', 'log_fc', 'mean_displacement', 'mean_abs_displacement', 'support_fraction',
     'rank', 'selected', 'p_value', 'adj_p_value', 'selection_frequency']
    >>> len(df)
    3
    """
    res = _schema.read_results(adata, key)
    df = res["genes"].reindex(columns=list(_schema.GENE_COLUMNS))  # log_fc is NaN in older results
    df["target"] = df["target"].astype(str)
    targets = None if target is None else _schema.check_targets(res, key, target)
    if targets is not None:
        df = df[df["target"].isin(targets)]
    if min_support is not None:
        df = df[df["support_fraction"] >= min_support]
    if selected_only:
        df = df[df["selected"]]
    if top_n is not None:
        if int(top_n) < 1:
            msg = f"top_n must be a positive integer, got {top_n!r}."
            raise ValueError(msg)
        df = df[df["rank"] <= int(top_n)]
    df = df.sort_values(["target", "rank"], kind="stable") if targets is None else df
    if targets is not None:
        order = {t: i for i, t in enumerate(targets)}
        df = (
            df.assign(_o=df["target"].map(order))
            .sort_values(["_o", "rank"], kind="stable")
            .drop(columns="_o")
        )
    return df.reset_index(drop=True)


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def summary(adata: AnnData, *, key: str = "sparse_ot") -> pd.DataFrame:
    """One row per target: cells, selected genes, average dimension, error, λ, iterations, time.

    Parameters
    ----------
    {doc_adata}
    {doc_key}

    Returns
    -------
    DataFrame with columns
    ``target, n_source, n_target, n_genes, n_selected_genes, avg_dim, responder_fraction, responder_fraction_low, responder_fraction_high, sliced_w, lam, n_iters, converged, diverged, reason, null, seconds``.
    ``responder_fraction`` estimates the share of target cells that respond, from the selected
    genes (:func:`scsparseot.core.responder_fraction`: the target as a mixture of unchanged source-like
    cells and responders); 0 when no gene is selected. ``responder_fraction_low`` and ``_high`` bound its
    95% interval (half-sampling standard error, :func:`scsparseot.core.responder_fraction_interval`;
    NaN with fewer than 8 cells). ``null`` says where the gene p-values come from: ``"tests"`` (the
    default map's own tests), ``"matched"`` (control-vs-control maps with the target's size),
    ``"halves"`` (too few control cells for that: conservative) or ``"none"`` (no p-values).
    """
    res = _schema.read_results(adata, key)
    df = res["summary"].copy()
    df.index = df.index.astype(str)
    df.index.name = "target"
    return df.reset_index()


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def training_history(adata: AnnData, target: str | None = None, *, key: str = "sparse_ot") -> pd.DataFrame:
    """Training trace, one row per (target, network, evaluation): ``target, state, step, lam, loss_g, loss_f, dim, err, spa, lr``.

    ``state`` is the cell state whose network was trained (the state-conditional map trains one per
    moving state, each counting its own steps), ``-1`` for a map with one network for every cell.

    Parameters
    ----------
    {doc_adata}
    target
        Keep one target (``None``: all).
    {doc_key}
    """
    res = _schema.read_results(adata, key)
    df = res["history"].copy()
    df["target"] = df["target"].astype(str)
    state = df.pop("state").astype(np.int64) if "state" in df else np.full(len(df), -1, dtype=np.int64)
    df.insert(1, "state", state)
    if target is not None:
        df = df[df["target"] == _schema.check_target(res, key, target)]
    return df.reset_index(drop=True)


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def map(adata: AnnData, target: str | None = None, *, key: str = "sparse_ot") -> SparseOTMap | ConditionalMap:
    """The fitted map of ``target`` (apply it to new cells).

    A :class:`~scsparseot.core.ConditionalMap` for the default (state-conditional) method, a
    :class:`~scsparseot.SparseOTMap` for ``method="sparse_icnn"``; both have ``transport``,
    ``displacement`` and ``save``.

    Parameters
    ----------
    {doc_adata}
    target
        Which target's map (may be omitted when only one was fitted).
    {doc_key}

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> m = sso.get.map(adata, target="drug_1")
    >>> m.transport(adata[adata.obs["drug"] == "control"].X).shape
    (100, 20)
    """
    return _schema.read_map(adata, key, target)
