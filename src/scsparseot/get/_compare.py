"""Agreement between the genes selected by the OT maps and a differential-expression ranking."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _schema
from .._docs import doc_adata, doc_key, doc_params
from ._tables import perturbed_genes

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["compare"]

COMPARE_COLUMNS = ("target", "n_ot", "n_de", "n_both", "jaccard", "ot_only", "de_only")


def _de_genes(adata: AnnData, de_key: str, group: str, n_genes: int | None, pval_cutoff: float) -> list[str]:
    """The DE genes of ``group``, read with :func:`scanpy.get.rank_genes_groups_df` (in its order)."""
    import scanpy as sc

    de = sc.get.rank_genes_groups_df(adata, group, key=de_key)
    names = de["names"].to_numpy().astype(str)
    if n_genes is not None:
        order = np.argsort(-np.abs(de["scores"].to_numpy(dtype=float)), kind="stable")
        return names[order[:n_genes]].tolist()
    if "pvals_adj" not in de:
        msg = f"adata.uns[{de_key!r}] has no adjusted p-values (method='logreg'?); pass n_genes to compare the top genes instead."
        raise KeyError(msg)
    return names[de["pvals_adj"].to_numpy(dtype=float) < pval_cutoff].tolist()


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def compare(
    adata: AnnData,
    *,
    key: str = "sparse_ot",
    de_key: str = "rank_genes_groups",
    n_genes: int | None = None,
    pval_cutoff: float = 0.05,
) -> pd.DataFrame:
    """Per target, how the genes selected by the OT map agree with differentially expressed genes.

    Compares the selected genes of each target (:func:`scsparseot.get.perturbed_genes` with
    ``selected_only=True``) with the result of :func:`scanpy.tl.rank_genes_groups` for the same
    group, best computed against the same source::

        sc.tl.rank_genes_groups(adata, "drug", reference="control")

    Differential-expression (DE) genes are those with an adjusted p-value below ``pval_cutoff``
    or, if ``n_genes`` is given, the ``n_genes`` genes with the largest absolute score (up- and
    down-regulated, as the OT map moves genes both ways). DE genes the OT fit did not consider
    (``genes=`` of :func:`scsparseot.tl.sparse_ot`) are left out, so both sides draw from the same
    genes.

    Parameters
    ----------
    {doc_adata}
    {doc_key}
    de_key
        Key of the :func:`scanpy.tl.rank_genes_groups` result in ``adata.uns``.
    n_genes
        Use the top ``n_genes`` DE genes by absolute score instead of a p-value cutoff.
    pval_cutoff
        Adjusted p-value below which a gene counts as DE (when ``n_genes`` is ``None``).

    Returns
    -------
    DataFrame with one row per target and columns
    ``target, n_ot, n_de, n_both, jaccard, ot_only, de_only``: the number of OT-selected genes, of DE genes and of genes in both, the Jaccard index
    ``n_both / |OT ∪ DE|`` (``NaN`` when both are empty), and the genes found only by OT (in OT
    rank order) or only by DE (in DE order), each as one comma-separated string.

    Examples
    --------
    >>> import scanpy as sc
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> sc.tl.rank_genes_groups(adata, "drug", reference="control", method="t-test")
    >>> df = sso.get.compare(adata)
    >>> df.columns.tolist()
    ['target', 'n_ot', 'n_de', 'n_both', 'jaccard', 'ot_only', 'de_only']
    """
    res = _schema.read_results(adata, key)
    if de_key not in adata.uns:
        msg = (
            f"No differential-expression result under adata.uns[{de_key!r}]; compute it first, e.g. "
            f"scanpy.tl.rank_genes_groups(adata, {res['params']['groupby']!r}, "
            f"reference={res['params']['source']!r}, key_added={de_key!r})."
        )
        raise KeyError(msg)
    de = adata.uns[de_key]
    if not isinstance(de, dict) or "names" not in de:
        msg = f"adata.uns[{de_key!r}] is not a scanpy.tl.rank_genes_groups result (it has no 'names')."
        raise KeyError(msg)
    if "params" not in de:
        msg = f"adata.uns[{de_key!r}] is not a scanpy.tl.rank_genes_groups result (it has no 'params')."
        raise KeyError(msg)
    if n_genes is not None and (isinstance(n_genes, bool) or int(n_genes) < 1):
        msg = f"n_genes must be a positive integer or None, got {n_genes!r}."
        raise ValueError(msg)
    if not 0 < pval_cutoff <= 1:
        msg = f"pval_cutoff must lie in (0, 1], got {pval_cutoff!r}."
        raise ValueError(msg)
    groups = list(de["names"].dtype.names or ())
    targets = _schema.fitted_targets(res)
    missing = [t for t in targets if t not in groups]
    if missing:
        msg = (
            f"Targets {missing} have no group in adata.uns[{de_key!r}] (groups: {groups}); run "
            f"scanpy.tl.rank_genes_groups with groupby={res['params']['groupby']!r} and every target in groups."
        )
        raise KeyError(msg)
    table = perturbed_genes(adata, key=key)
    rows = []
    for t in targets:
        fitted = table.loc[table["target"] == t]
        ot = fitted.loc[fitted["selected"], "gene"].tolist()
        universe = set(fitted["gene"])
        de_genes = [g for g in _de_genes(adata, de_key, t, n_genes, pval_cutoff) if g in universe]
        ot_set, de_set = set(ot), set(de_genes)
        union = ot_set | de_set
        both = ot_set & de_set
        rows.append(
            {
                "target": t,
                "n_ot": len(ot_set),
                "n_de": len(de_set),
                "n_both": len(both),
                "jaccard": len(both) / len(union) if union else float("nan"),
                "ot_only": ", ".join(g for g in ot if g not in de_set),
                "de_only": ", ".join(g for g in de_genes if g not in ot_set),
            }
        )
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
