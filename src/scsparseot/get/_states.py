"""Tidy tables of the states of the default map: gene × state effects and the composition of each target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _schema
from .._docs import doc_adata, doc_key, doc_params
from .._foldchange import log1p_base, log2_fold_change

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["STATE_GENE_COLUMNS", "composition", "state_genes"]

#: the columns of :func:`state_genes`
STATE_GENE_COLUMNS = (
    "target",
    "state",
    "gene",
    "n_source",
    "n_target",
    "shift_sd",
    "shift",
    "log_fc",
    "p_value",
    "adj_p_value",
    "moved",
)


def _state_results(adata: AnnData, key: str) -> dict:
    res = _schema.read_results(adata, key)
    if "states" not in res:
        method = res["params"].get("method")
        msg = (
            f"adata.uns[{key!r}] has no states: method={method!r} has none; the default map "
            "(method='conditional') writes them."
        )
        raise KeyError(msg)
    return res


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def state_genes(
    adata: AnnData,
    target: str | Sequence[str] | None = None,
    *,
    key: str = "sparse_ot",
    moved_only: bool = False,
    genes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Each gene's effect in each state, one row per (target, state, gene).

    Parameters
    ----------
    {doc_adata}
    target
        One target or a list; ``None``: every fitted target.
    {doc_key}
    moved_only
        Keep only the (state, gene) pairs the map moves.
    genes
        Keep only these genes.

    Returns
    -------
    DataFrame with columns ``target, state, gene, n_source, n_target, shift_sd, shift, log_fc, p_value, adj_p_value, moved``:
    the state's source and target cells, the gene's mean shift in the state (target − source) in
    units of its standard deviation in the source cells and in data units, the log2 fold change of
    the means on the count scale where the data are log-normalised (``adata.uns["log1p"]`` set by
    :func:`scanpy.pp.log1p`, as :func:`scanpy.tl.rank_genes_groups` computes it; ``NaN`` otherwise),
    the state's test p-value (cells or replicates as units, :func:`summary`'s ``test_level``), its
    Benjamini–Hochberg adjustment over the genes × tested states of the target (``NaN`` in a state
    not tested), and whether the map moves the gene there. Ordered by target, state, p-value.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=200, n_genes=30, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    >>> df = sso.get.state_genes(adata, moved_only=True)
    >>> planted = adata.uns["true_genes"]["drug_1"].tolist()  # a shift of every cell
    >>> planted, bool(df[df["gene"].isin(planted)].groupby("state").size().eq(3).all())
    (['gene_02', 'gene_11', 'gene_26'], True)
    """
    res = _state_results(adata, key)
    targets = _schema.check_targets(res, key, target)
    positions = {t: i for i, t in enumerate(_schema.fitted_targets(res))}
    gene_names = _fitted_gene_names(adata, res)
    base = log1p_base(adata)
    frames = []
    for t in targets:
        st = res["states"][str(positions[t])]
        names = np.asarray(st["names"], dtype=str)
        n_states, n_genes = len(names), gene_names.size
        sx, ty = np.asarray(st["source_mean"], np.float64), np.asarray(st["target_mean"], np.float64)
        shift_sd = np.asarray(st["shift"], np.float64)
        log_fc = log2_fold_change(sx, ty, base)
        frames.append(
            pd.DataFrame(
                {
                    "target": t,
                    "state": np.repeat(names, n_genes),
                    "gene": np.tile(gene_names, n_states),
                    "n_source": np.repeat(np.asarray(st["n_source"], np.int64), n_genes),
                    "n_target": np.repeat(np.asarray(st["n_target"], np.int64), n_genes),
                    "shift_sd": shift_sd.ravel(),
                    "shift": (shift_sd * np.asarray(st["sd"], np.float64)[None, :]).ravel(),
                    "log_fc": log_fc.ravel(),
                    "p_value": np.asarray(st["p_value"], np.float64).ravel(),
                    "adj_p_value": np.asarray(st["adj_p_value"], np.float64).ravel(),
                    "moved": np.asarray(st["moved"], bool).ravel(),
                }
            )
        )
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(STATE_GENE_COLUMNS))
    if moved_only:
        df = df[df["moved"]]
    if genes is not None:
        wanted = [str(g) for g in ([genes] if isinstance(genes, str) else genes)]
        unknown = sorted(set(wanted) - set(gene_names))
        if unknown:
            msg = f"Genes not fitted under key {key!r}: {unknown[:5]}."
            raise KeyError(msg)
        df = df[df["gene"].isin(wanted)]
    order = {t: i for i, t in enumerate(targets)}
    df = df.assign(_o=df["target"].map(order), _p=df["p_value"].fillna(2.0))
    df = df.sort_values(["_o", "state", "_p"], kind="stable").drop(columns=["_o", "_p"])
    return df[list(STATE_GENE_COLUMNS)].reset_index(drop=True)


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def composition(
    adata: AnnData,
    target: str | Sequence[str] | None = None,
    *,
    key: str = "sparse_ot",
) -> pd.DataFrame:
    """Each state's share of the source and the target cells and the test of its change.

    Parameters
    ----------
    {doc_adata}
    target
        One target or a list; ``None``: every fitted target.
    {doc_key}

    Returns
    -------
    DataFrame with columns ``target, state, n_source, n_target, share_source, share_target, log2_ratio, p_value, adj_p_value, test``:
    ``log2_ratio = log2(share_target / share_source)`` (0.5 added to the counts); the p-value of
    Welch's t on the logit shares across replicates (``test == "replicates"``, with
    ``replicate_key`` and at least 2 replicates a side) or of Fisher's exact test on the cells
    (``"cells"``, which assumes independent cells), Benjamini–Hochberg over the target's states.
    A change of mix is reported here and does not become gene calls (:ref:`composition`).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=200, n_genes=30, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    >>> sso.get.composition(adata).columns.tolist()[:5]
    ['target', 'state', 'n_source', 'n_target', 'share_source']
    """
    res = _state_results(adata, key)
    targets = _schema.check_targets(res, key, target)
    df = res["composition"].copy()
    df["target"] = df["target"].astype(str)
    df = df[df["target"].isin(targets)]
    order = {t: i for i, t in enumerate(targets)}
    df = df.assign(_o=df["target"].map(order)).sort_values("_o", kind="stable").drop(columns="_o")
    return df.reset_index(drop=True)


def _fitted_gene_names(adata: AnnData, res: dict) -> np.ndarray:
    """Names of the fitted genes, in the fit's order."""
    genes = res["params"].get("genes")
    return np.asarray(adata.var_names if genes is None else genes, dtype=str)
