"""``pl.response``: which cells respond, per cell type, for source and target cells side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.patches import Patch

from .. import get
from .._docs import doc_adata, doc_key, doc_params, doc_plot, doc_plot_returns
from ..get import _access
from ._utils import finish, get_ax

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["response"]

_COLORS = {"source": "#bdbdbd", "target": "#d6604d"}


@doc_params(doc_adata=doc_adata, doc_key=doc_key, doc_plot=doc_plot, doc_plot_returns=doc_plot_returns)
def response(
    adata: AnnData,
    target: str | None = None,
    *,
    key: str = "sparse_ot",
    groupby: str | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Per-cell response score of a drug, source and treated cells side by side, per cell group.

    Box plots of the score :func:`scsparseot.tl.sparse_ot` writes to
    ``adata.obs[f"{{key}}_response_{{target}}"]`` (read through :func:`scsparseot.get.response`),
    one pair of horizontal boxes (source cells in grey, treated cells in colour) per category of
    ``groupby``, categories ordered by the treated cells' mean score, highest on top: the cell types
    that respond come first. To see the score on an embedding, colour a scanpy plot by that column,
    e.g. ``sc.pl.umap(adata, color="sparse_ot_response_drug_1")``.

    Parameters
    ----------
    {doc_adata}
    target
        Which target (may be omitted when only one was fitted).
    {doc_key}
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
    >>> sorted(t.get_text() for t in ax.get_yticklabels())
    ['B', 'T']
    """
    target_name = _access.check_target(adata, key, target)  # None only when one target was fitted
    source_name = str(get.params(adata, key=key)["source"])
    df = get.response(adata, target_name, key=key, groupby=groupby)
    cat = "group"
    if groupby is None:
        df[cat] = "all cells"
    means = df[df["side"] == "target"].groupby(cat, observed=True)["response"].mean()
    cats = sorted(df[cat].unique(), key=lambda c: (-means.get(c, -np.inf), c))
    height = 0.36
    ax_given = ax is not None
    fig, ax = get_ax(ax, figsize or (6.0, 0.8 + 0.42 * max(len(cats), 2)))
    handles = []
    for offset, side in ((-height / 2, "source"), (height / 2, "target")):
        color = _COLORS[side]
        for i, c in enumerate(cats):
            scores = df.loc[(df[cat] == c) & (df["side"] == side), "response"].dropna().to_numpy(float)
            if not scores.size:
                continue
            # a box drawn by hand (Axes.boxplot changed its orientation argument across versions):
            # quartiles, 5th–95th percentile whiskers, the median as a bar and the mean as a dot
            lo, q1, med, q3, hi = np.quantile(scores, [0.05, 0.25, 0.5, 0.75, 0.95])
            y = i + offset
            ax.hlines(y, lo, hi, color="#404040", lw=1)
            ax.barh(y, max(q3 - q1, 1e-9), left=q1, height=height * 0.85, color=color, edgecolor="#404040")
            ax.vlines(med, y - height * 0.42, y + height * 0.42, color="#202020", lw=1.5)
            ax.plot(scores.mean(), y, "o", ms=3.5, color="white", mec="#202020", mew=0.8)
        label = f"{source_name} (source)" if side == "source" else target_name
        handles.append(Patch(facecolor=color, edgecolor="#404040", label=label))
    ax.set_yticks(range(len(cats)), cats)
    ax.set_ylim(-0.6, len(cats) - 0.4)
    ax.invert_yaxis()  # the most responsive group on top
    ax.set_xlim(left=0)
    ax.set_xlabel("response (norm of the cell's displacement; ○ mean)")
    ax.set_ylabel(groupby or "")
    ax.set_title(f"Response to {target_name}", loc="left")
    ax.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return finish(fig, ax, show=show, return_fig=return_fig, ax_given=ax_given)
