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
    key: str = "sparse_ot",
    target: str | Sequence[str] | None = None,
    *,
    groupby: str | None = None,
) -> pd.DataFrame:
    """Per-cell response scores, one row per (target, source cell).

    Parameters
    ----------
    {doc_adata}
    {doc_key}
    target
        One target or a list; ``None`` returns every fitted target.
    groupby
        Column of ``adata.obs`` (for example ``"cell_type"``) whose label of each source cell goes
        into the ``group`` column; ``None`` puts the source label there.

    Returns
    -------
    DataFrame with columns ``target, cell, group, response, moved`` (always these): the source
    (control) cell's name, its group, its response score (the norm of its sparsified displacement
    ``T(x) − x``, in data units) and whether the map moves it at all (``response > 0``).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> df = sso.get.response(adata)
    >>> df.columns.tolist(), len(df)
    (['target', 'cell', 'group', 'response', 'moved'], 100)
    """
    res = _schema.read_results(adata, key)
    fitted = [str(t) for t in res["summary"].index]
    if target is None:
        targets = fitted
    else:
        targets = [target] if isinstance(target, str) else list(target)
        targets = [_schema.check_target(res, key, t) for t in targets]
    by, source = res["params"]["groupby"], str(res["params"]["source"])
    if by not in adata.obs:
        msg = f"adata.obs[{by!r}], the groupby column of the fit under {key!r}, is missing."
        raise KeyError(msg)
    if groupby is not None and groupby not in adata.obs:
        msg = (
            f"groupby={groupby!r} is not a column of adata.obs. Available columns: {list(adata.obs.columns)}."
        )
        raise KeyError(msg)
    rows = np.flatnonzero(adata.obs[by].astype(str).to_numpy() == source)
    cells = adata.obs_names.to_numpy()[rows].astype(str)
    group = (
        np.full(rows.size, source, dtype=object)
        if groupby is None
        else adata.obs[groupby].astype(str).to_numpy()[rows]
    )
    frames = []
    for t in targets:
        col = _schema.response_key(key, t)
        if col not in adata.obs:
            msg = f"adata.obs[{col!r}] is missing; rerun scsparseot.tl.sparse_ot(adata, ..., key_added={key!r})."
            raise KeyError(msg)
        score = adata.obs[col].to_numpy(dtype=np.float64)[rows]
        frames.append(pd.DataFrame({"target": t, "cell": cells, "group": group, "response": score}))
    df = pd.concat(frames, ignore_index=True)
    df["moved"] = df["response"] > 0
    return df
