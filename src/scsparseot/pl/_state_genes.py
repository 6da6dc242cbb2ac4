"""``pl.state_genes``: a dot plot of each gene's shift in each target × state (scanpy's DotPlot style)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import TwoSlopeNorm

from .. import get
from .._docs import doc_adata, doc_gene_symbols, doc_key, doc_params, doc_plot, doc_plot_returns
from ._utils import DIVERGING, finish, gene_labels, get_ax, var_names_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["state_genes"]

#: -log10 adjusted p-values drawn at the legend's dot sizes
_SIZE_LEVELS = (2, 5, 10)


@doc_params(
    doc_adata=doc_adata,
    doc_gene_symbols=doc_gene_symbols,
    doc_key=doc_key,
    doc_plot=doc_plot,
    doc_plot_returns=doc_plot_returns,
)
def state_genes(
    adata: AnnData,
    targets: str | Sequence[str] | None = None,
    *,
    key: str = "sparse_ot",
    genes: Sequence[str] | None = None,
    gene_symbols: str | None = None,
    n_genes: int = 10,
    vmax: float | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
    figsize: tuple[float, float] | None = None,
) -> Figure | Axes | None:
    """Dot plot of the moved genes: rows are target × state, columns genes.

    The colour is the gene's mean shift in the state (target − source, in SD of the source
    cells; red up, blue down), the dot's size its −log10 adjusted p-value there
    (:func:`scsparseot.get.state_genes`); a black ring marks where the map moves it.

    Parameters
    ----------
    {doc_adata}
    targets
        One target or a list (``None``: all).
    {doc_key}
    genes
        The genes to show (``None``: those moved in the most states, then by smallest p-value, ``n_genes`` of them).
    {doc_gene_symbols}
    n_genes
        Number of genes when ``genes`` is ``None``.
    vmax
        Colour limit in SD (``None``: the largest ``|shift|`` shown).
    {doc_plot}
    figsize
        Figure size (``None``: from the numbers of rows and genes).

    {doc_plot_returns}

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=200, n_genes=30, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    >>> ax = sso.pl.state_genes(adata, show=False)
    """
    df = get.state_genes(adata, targets, key=key)
    if genes is None:
        moved = df[df["moved"]]
        if moved.empty:
            msg = "No gene moves in any state; pass genes= to draw chosen genes."
            raise ValueError(msg)
        rank = moved.groupby("gene").agg(n=("moved", "size"), p=("p_value", "min"))
        genes = rank.sort_values(["n", "p"], ascending=[False, True]).index[: int(n_genes)].tolist()
    else:
        genes = var_names_of(adata, genes, gene_symbols)
    df = df[df["gene"].isin(genes)]
    rows = list(dict.fromkeys(zip(df["target"], df["state"], strict=True)))
    row_of = {r: i for i, r in enumerate(rows)}
    col_of = {g: j for j, g in enumerate(genes)}
    yi = np.array([row_of[r] for r in zip(df["target"], df["state"], strict=True)])
    xi = df["gene"].map(col_of).to_numpy()
    shift = df["shift_sd"].to_numpy()
    logp = -np.log10(np.clip(df["adj_p_value"].fillna(1.0).to_numpy(), 1e-300, 1.0))
    size = 12 + 160 * np.clip(logp / _SIZE_LEVELS[-1], 0, 1)
    lim = float(vmax or max(np.abs(shift).max(), 1e-3))
    fig, ax_ = get_ax(ax, figsize or (2.6 + 0.42 * len(genes), 1.8 + 0.32 * len(rows)))
    dots = ax_.scatter(
        xi, yi, s=size, c=shift, cmap=DIVERGING, norm=TwoSlopeNorm(0.0, -lim, lim), edgecolors="none"
    )
    moved = df["moved"].to_numpy()
    ax_.scatter(xi[moved], yi[moved], s=size[moved], facecolors="none", edgecolors="black", linewidths=0.8)
    ax_.set_xticks(range(len(genes)), gene_labels(adata, genes, gene_symbols), rotation=90)
    ax_.set_yticks(range(len(rows)), [f"{t} · {s}" for t, s in rows])
    ax_.set_xlim(-0.6, len(genes) - 0.4)
    ax_.set_ylim(len(rows) - 0.5, -0.5)
    ax_.set_axisbelow(True)
    ax_.grid(color="#eeeeee", linewidth=0.6)
    for spine in ("top", "right"):
        ax_.spines[spine].set_visible(False)
    fig.colorbar(dots, ax=ax_, label="shift in the state (SD)", location="bottom", shrink=0.5, aspect=30)
    handles = [
        ax_.scatter([], [], s=12 + 160 * min(v / _SIZE_LEVELS[-1], 1), color="#777777") for v in _SIZE_LEVELS
    ]
    ax_.legend(
        handles,
        [f"{v}" for v in _SIZE_LEVELS],
        title="−log10 adj. p",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
    )
    ax_.set_title("Genes per state (ring: moved)", fontsize=10)
    return finish(fig, ax_, show=show, return_fig=return_fig, ax_given=ax is not None)
