"""``pl.response``: which cells respond, per cell type, for source and target cells side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Patch

from .. import get
from .._docs import doc_adata, doc_key, doc_params, doc_plot, doc_plot_returns
from ._utils import _finish, _get_ax

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["response"]

_COLORS = {"source": "#bdbdbd", "target": "#d6604d"}


@doc_params(doc_adata=doc_adata, doc_key=doc_key, doc_plot=doc_plot, doc_plot_returns=doc_plot_returns)
def response(
    adata: AnnData,
    key: str = "sparse_ot",
    target: str | None = None,
    *,
    groupby: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Per-cell response score of a drug, source and treated cells side by side, per cell group.

    Box plots of the score :func:`scsparseot.tl.sparse_ot` writes to
    ``adata.obs[f"{{key}}_response_{{target}}"]`` (read through :func:`scsparseot.get.response`),
    one pair of boxes (source cells in grey, treated cells in colour) per category of ``groupby``,
    categories ordered by the treated cells' median score, highest first: the cell types that
    respond come first. To see the score on an embedding, colour a scanpy plot by that column,
    e.g. ``sc.pl.umap(adata, color="sparse_ot_response_drug_1")``.

    Parameters
    ----------
    {doc_adata}
    {doc_key}
    target
        Which target (may be omitted when only one was fitted).
    groupby
        Column of ``adata.obs`` to group cells by (e.g. ``"cell_type"``); ``None``: one pair of boxes.
    figsize
        Figure size when a new figure is made.
    {doc_plot}

    {doc_plot_returns}

    Examples
    --------
    >>> import numpy as np
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> adata.obs["cell_type"] = np.where(np.arange(adata.n_obs) % 2, "B", "T")
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> ax = sso.pl.response(adata, target="drug_1", groupby="cell_type", show=False)
    >>> sorted(t.get_text() for t in ax.get_xticklabels())
    ['B', 'T']
    """
    fitted = get.summary(adata, key)["target"].astype(str).tolist()
    if target is None:
        if len(fitted) != 1:
            msg = f"{len(fitted)} targets were fitted under {key!r}; pick one with target=, one of {fitted}."
            raise ValueError(msg)
        target = fitted[0]
    df = get.response(adata, key, target, groupby=groupby)
    target_name = str(target)
    source_name = str(get.params(adata, key)["source"])
    cat = "group"
    if groupby is None:
        df[cat] = "all cells"
    medians = df[df["side"] == "target"].groupby(cat, observed=True)["response"].median()
    cats = sorted(df[cat].unique(), key=lambda c: (-medians.get(c, -np.inf), c))
    width = 0.38
    ax_given = ax is not None
    handles = []
    fig, ax = _get_ax(ax, figsize or (0.7 * len(cats) + 3.0, 3.2))
    for offset, side in ((-width / 2, "source"), (width / 2, "target")):
        data = [df.loc[(df[cat] == c) & (df["side"] == side), "response"].dropna().to_numpy() for c in cats]
        pos = [i + offset for i, d in enumerate(data) if d.size]
        data = [d for d in data if d.size]
        if not data:
            continue
        boxes = ax.boxplot(
            data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=False, manage_ticks=False
        )
        for patch in boxes["boxes"]:
            patch.set_facecolor(_COLORS[side])
            patch.set_edgecolor("#404040")
        for part in ("medians", "whiskers", "caps"):
            for line in boxes[part]:
                line.set_color("#404040")
        label = f"{source_name} (source)" if side == "source" else target_name
        handles.append(Patch(facecolor=_COLORS[side], edgecolor="#404040", label=label))
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats, rotation=90 if len(cats) > 4 else 0)
    ax.set_xlim(-0.6, len(cats) - 0.4)
    ax.set_ylabel("response (|Δ| of the cell)")
    ax.set_xlabel(groupby or "")
    ax.set_title(f"Response to {target_name}", loc="left")
    ax.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _finish(fig, ax, show=show, return_fig=return_fig, ax_given=ax_given)
