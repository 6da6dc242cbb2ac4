"""Per-cell response scores as a tidy table (read through :mod:`scsparseot._schema`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import _schema
from .._docs import doc_adata, doc_key, doc_params

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

__all__ = ["response"]


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def response(
    adata: AnnData,
    target: str | Sequence[str] | None = None,
    *,
    key: str = "sparse_ot",
    groupby: str | None = None,
) -> pd.DataFrame:
    """Per-cell response scores, one row per (target, cell) for the source cells and the target's own cells.

    Parameters
    ----------
    {doc_adata}
    target
        One target or a list; ``None`` returns every fitted target.
    {doc_key}
    groupby
        Column of ``adata.obs`` (for example ``"cell_type"``) whose label of each cell goes into
        the ``group`` column; ``None`` puts the cell's label in the fit's ``groupby`` column there.

    Returns
    -------
    DataFrame with columns ``target, cell, side, group, response, moved`` (always these): the
    cell's name; ``side``, ``"source"`` for a control cell and ``"target"`` for a cell of the target
    group; its group; its response score and whether it is above 0. A source cell's score is the
    norm of its sparsified displacement ``T(x) − x`` (data units); a target cell's score is the mean
    score of the transported source cells nearest to it in the selected genes
    (:func:`scsparseot.core.target_response`), so both sides are on one scale.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> df = sso.get.response(adata)
    >>> df.columns.tolist(), df["side"].value_counts().to_dict()
    (['target', 'cell', 'side', 'group', 'response', 'moved'], {{'source': 100, 'target': 100}})
    """
    res = _schema.read_results(adata, key)
    targets = _schema.check_targets(res, key, target) or _schema.fitted_targets(res)
    by, source = res["params"]["groupby"], str(res["params"]["source"])
    if by not in adata.obs:
        msg = f"adata.obs[{by!r}], the groupby column of the fit under {key!r}, is missing."
        raise KeyError(msg)
    if groupby is not None and groupby not in adata.obs:
        msg = (
            f"groupby={groupby!r} is not a column of adata.obs. Available columns: {list(adata.obs.columns)}."
        )
        raise KeyError(msg)
    labels = adata.obs[by].astype(str).to_numpy()
    groups = labels if groupby is None else adata.obs[groupby].astype(str).to_numpy()
    names = adata.obs_names.to_numpy().astype(str)
    frames = []
    for t in targets:
        col = _schema.response_key(key, t)
        if col not in adata.obs:
            msg = f"adata.obs[{col!r}] is missing; rerun scsparseot.tl.sparse_ot(adata, ..., key_added={key!r})."
            raise KeyError(msg)
        rows = np.flatnonzero((labels == source) | (labels == t))
        side = np.where(labels[rows] == source, "source", "target")
        score = adata.obs[col].to_numpy(dtype=np.float64)[rows]
        frames.append(
            pd.DataFrame(
                {"target": t, "cell": names[rows], "side": side, "group": groups[rows], "response": score}
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df["side"] = pd.Categorical(df["side"], categories=["source", "target"])
    df["moved"] = df["response"] > 0
    return df
