"""``pl.response``: how strongly a drug's map moves the control cells of each group (e.g. cell type)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import get
from .._docs import doc_adata, doc_key, doc_params, doc_plot, doc_plot_returns
from ._utils import _finish, _get_ax

if TYPE_CHECKING:
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["response"]


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
    """Per-cell response of one target's map, by group of control cells (for example cell type).

    One horizontal box per group (from :func:`scsparseot.get.response`): the response scores (norm
    of each control cell's sparsified displacement) of the cells the map moves (box: quartiles and
    median; line: 5th to 95th percentile), with every moved cell as a dot, and on the right the share of the group's cells that move at all. A drug acting in one
    cell type shows as one group with high scores and a large moved share.

    Parameters
    ----------
    {doc_adata}
    {doc_key}
    target
        The target (drug); may be omitted when only one was fitted.
    groupby
        Column of ``adata.obs`` that groups the control cells; ``None`` draws one box for all.
    figsize
        Figure size in inches (when a new figure is made).
    {doc_plot}

    {doc_plot_returns}

    Examples
    --------
    >>> import numpy as np
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> adata.obs["cell_type"] = np.where(np.arange(adata.n_obs) % 2, "B", "T")
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> ax = sso.pl.response(adata, groupby="cell_type", show=False)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['B', 'T']
    """
    res = get.summary(adata, key)
    if target is None:
        if len(res) != 1:
            msg = f"{len(res)} targets were fitted under {key!r}; pick one with target=, one of {res['target'].tolist()}."
            raise ValueError(msg)
        target = str(res["target"].iloc[0])
    df = get.response(adata, key, target, groupby=groupby)
    groups = sorted(df["group"].unique())
    fig, ax_ = _get_ax(ax, figsize or (6.0, 0.5 + 0.45 * max(len(groups), 2)))
    rng = np.random.default_rng(0)
    for i, g in enumerate(groups):
        scores = df.loc[df["group"] == g, "response"].to_numpy(float)
        moved = scores[scores > 0]
        if moved.size:
            # a box drawn by hand (Axes.boxplot changed its orientation argument across versions)
            lo, q1, med, q3, hi = np.quantile(moved, [0.05, 0.25, 0.5, 0.75, 0.95])
            ax_.hlines(i, lo, hi, color="#4a6f8a", lw=1)
            ax_.barh(i, q3 - q1, left=q1, height=0.6, color="#d9e6f2", edgecolor="#4a6f8a")
            ax_.vlines(med, i - 0.3, i + 0.3, color="#1f3b57", lw=2)
            ax_.scatter(moved, i + rng.uniform(-0.2, 0.2, moved.size), s=5, color="#1f3b57", alpha=0.4, lw=0)
        ax_.annotate(
            f"{moved.size / max(scores.size, 1):.0%} of {scores.size}",
            xy=(1.01, i),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize="small",
        )
    ax_.set_yticks(range(len(groups)), groups)
    ax_.set_ylim(-0.6, len(groups) - 0.4)
    ax_.invert_yaxis()
    ax_.set_xlim(left=0)
    ax_.set_xlabel("response of moved cells (norm of T(x) − x)")
    ax_.set_ylabel(groupby or "")
    ax_.set_title(f"{target}: response by {groupby}" if groupby else f"{target}: response", loc="left")
    return _finish(fig, ax_, show=show, return_fig=return_fig, ax_given=ax is not None)
