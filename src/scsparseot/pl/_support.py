"""``pl.support``: drugs × genes dot plot of how often and how far each gene moves."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.colors import TwoSlopeNorm

from .. import get
from .._docs import doc_adata, doc_gene_symbols, doc_key, doc_params, doc_plot, doc_plot_returns
from ..get import _access
from ._utils import DIVERGING, finish, gene_labels, get_grid, symmetric_limit, var_names_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["support"]

_LEGEND_FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def _grouped_top_genes(top: pd.DataFrame, targets: list[str]) -> list[str]:
    """Genes of a ``perturbed_genes(top_n=...)`` table grouped by the targets that list them.

    Sort key per gene: the number of targets listing it (most first), which targets (in target
    order, as in an UpSet plot), then its best rank over those targets.
    """
    members: dict[str, set[str]] = {}
    best: dict[str, float] = {}
    for target, gene, rank in top[["target", "gene", "rank"]].itertuples(index=False):
        members.setdefault(gene, set()).add(str(target))
        best[gene] = min(best.get(gene, np.inf), float(rank))

    def key(gene: str) -> tuple:
        combo = [t in members[gene] for t in targets]
        return (-sum(combo), [not m for m in combo], best[gene])

    return sorted(members, key=key)


@doc_params(
    doc_adata=doc_adata,
    doc_gene_symbols=doc_gene_symbols,
    doc_key=doc_key,
    doc_plot=doc_plot,
    doc_plot_returns=doc_plot_returns,
)
def support(
    adata: AnnData,
    *,
    key: str = "sparse_ot",
    targets: str | Sequence[str] | None = None,
    genes: Sequence[str] | None = None,
    gene_symbols: str | None = None,
    top_n: int = 10,
    max_dot_size: float = 220.0,
    cmap: str = DIVERGING,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Dot plot of drugs × genes: how many cells each drug moves in a gene, and in which direction.

    Like :func:`scanpy.pl.dotplot`: the area of a dot is the gene's *support fraction* (the share
    of source cells in which the map moves the gene, see the size legend) and its colour the mean
    signed displacement ``T(x) − x`` over source cells, on a diverging scale centred at 0 (red: up,
    blue: down). Values come from :func:`scsparseot.get.perturbed_genes`.

    Parameters
    ----------
    {doc_adata}
    {doc_key}
    targets
        Targets (drugs), one per row in this order; ``None``: every fitted target.
    genes
        Genes, one per column in this order; ``None``: the union of each target's ``top_n``
        best-ranked genes, grouped by the targets whose ``top_n`` contain them, so that the
        overlap of the drugs shows as blocks: genes shared by the most targets first, then each
        target's own genes in target order; best-ranked first within a group.
    {doc_gene_symbols}
    top_n
        Genes per target when ``genes`` is ``None``.
    max_dot_size
        Marker area (points²) of a gene that moves in every cell.
    cmap
        Diverging colormap of the mean displacement.
    figsize
        Figure size in inches (when a new figure is made).
    {doc_plot}

    {doc_plot_returns}
    The size legend and the colorbar have their own axes in the same figure; with ``ax``, the
    plot and its legends share the area of ``ax``, which is replaced.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=4, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> ax = sso.pl.support(adata, top_n=4, show=False)
    """
    targets = _access.check_targets(adata, key, targets, allow_empty=False)
    if genes is None:
        if int(top_n) < 1:
            msg = f"top_n must be a positive integer, got {top_n!r}."
            raise ValueError(msg)
        genes = _grouped_top_genes(get.perturbed_genes(adata, targets, key=key, top_n=int(top_n)), targets)
    else:
        genes = [genes] if isinstance(genes, str) else list(genes)
        if not genes:
            msg = "genes is empty; pass None for each target's top_n genes or a list of gene names."
            raise ValueError(msg)
        genes = var_names_of(adata, genes, gene_symbols)
    table = get.perturbed_genes(adata, targets, key=key)
    unknown = [g for g in genes if g not in set(table["gene"])]
    if unknown:
        msg = f"Genes not fitted under key {key!r}: {unknown[:10]}; pick genes from adata.var_names that were fitted."
        raise KeyError(msg)
    table = table.set_index(["target", "gene"])
    frac = np.array([[table.at[(t, g), "support_fraction"] for g in genes] for t in targets], dtype=float)
    mean = np.array([[table.at[(t, g), "mean_displacement"] for g in genes] for t in targets], dtype=float)

    size = figsize or (max(5.0, 3.6 + 0.36 * len(genes)), max(2.8, 1.7 + 0.4 * len(targets)))
    fig, grid = get_grid(ax, size, 1, 2, width_ratios=(max(2.0, 0.36 * len(genes)), 1.5))
    ax_main = fig.add_subplot(grid[0, 0])
    side = grid[0, 1].subgridspec(4, 1, height_ratios=(0.3, 0.3, 0.11, 0.9))
    ax_size = fig.add_subplot(side[0, 0])
    ax_cbar = fig.add_subplot(side[2, 0])

    yy, xx = np.meshgrid(np.arange(len(targets)), np.arange(len(genes)), indexing="ij")
    limit = symmetric_limit(mean)
    dots = ax_main.scatter(
        xx.ravel(),
        yy.ravel(),
        s=frac.ravel() * max_dot_size,
        c=mean.ravel(),
        cmap=cmap,
        norm=TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit),
        edgecolors="#4d4d4d",
        linewidths=0.4,
    )
    ax_main.set_xticks(np.arange(len(genes)), labels=gene_labels(adata, genes, gene_symbols), rotation=90)
    ax_main.set_yticks(np.arange(len(targets)), labels=targets)
    ax_main.set_xlim(-0.6, len(genes) - 0.4)
    ax_main.set_ylim(len(targets) - 0.5, -0.5)
    ax_main.set_axisbelow(True)
    ax_main.grid(color="#ececec", linewidth=0.6)
    ax_main.set_xlabel("gene")
    ax_main.set_ylabel("drug")
    ax_main.set_title("Genes moved by each drug")

    # size legend: one dot per fraction, in a row
    pos = np.arange(len(_LEGEND_FRACTIONS))
    ax_size.scatter(
        pos,
        np.zeros_like(pos),
        s=np.array(_LEGEND_FRACTIONS) * max_dot_size,
        color="#bfbfbf",
        edgecolors="#4d4d4d",
        linewidths=0.4,
    )
    ax_size.set_xticks(pos, labels=[f"{f:.0%}" for f in _LEGEND_FRACTIONS], fontsize=8)
    ax_size.set_xlim(-0.6, pos[-1] + 0.6)
    ax_size.set_ylim(-0.5, 0.5)
    ax_size.set_yticks([])
    ax_size.tick_params(axis="x", length=0)
    for spine in ax_size.spines.values():
        spine.set_visible(False)
    ax_size.set_title("cells moved", fontsize=9)

    cbar = fig.colorbar(dots, cax=ax_cbar, orientation="horizontal")
    cbar.set_label("mean displacement\nT(x) − x", fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    return finish(fig, ax_main, show=show, return_fig=return_fig, ax_given=ax is not None)
