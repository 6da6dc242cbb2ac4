"""``pl.displacement``: per-cell displacements of a drug's top genes (heatmap or violins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from matplotlib.colors import TwoSlopeNorm

from .. import get
from .._docs import doc_adata, doc_gene_symbols, doc_key, doc_params, doc_plot, doc_plot_returns
from ..get import _access
from ._utils import (
    DIVERGING,
    check_option,
    finish,
    gene_index,
    gene_labels,
    get_ax,
    symmetric_limit,
    var_names_of,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["displacement"]

_KINDS = ("heatmap", "violin")
_UNSELECTED = "#8c8c8c"


@doc_params(
    doc_adata=doc_adata,
    doc_gene_symbols=doc_gene_symbols,
    doc_key=doc_key,
    doc_plot=doc_plot,
    doc_plot_returns=doc_plot_returns,
)
def displacement(
    adata: AnnData,
    target: str | None = None,
    *,
    key: str = "sparse_ot",
    genes: Sequence[str] | None = None,
    gene_symbols: str | None = None,
    top_n: int = 20,
    kind: Literal["heatmap", "violin"] = "heatmap",
    moved_only: bool = True,
    cmap: str = DIVERGING,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Displacement ``T(x) − x`` of each source cell in a drug's top genes.

    Reads the sparsified displacement layer written by :func:`scsparseot.tl.sparse_ot` (entries
    with ``|Δ| ≤ support_tol`` are 0), restricted to the source (control) cells.

    ``kind="heatmap"``: cells × genes, rows ordered by the cell's total ``|Δ|`` over all genes
    (most moved cells on top), on a diverging colour scale centred at 0 (red: up, blue: down).
    A responder subpopulation shows as a block of coloured rows above cells that do not move.
    ``kind="violin"``: one violin per gene of the displacement over the cells, with the share of
    cells that move in the gene written above it.

    Parameters
    ----------
    {doc_adata}
    target
        The target (drug); may be omitted when only one was fitted.
    {doc_key}
    genes
        Genes to show, in this order; ``None``: the target's ``top_n`` best-ranked genes.
    {doc_gene_symbols}
    top_n
        Number of genes when ``genes`` is ``None``.
    kind
        ``"heatmap"`` or ``"violin"``.
    moved_only
        Violins only: draw the distribution over the cells that move in the gene (non-zero
        displacement), so that a gene moved in a few cells is not hidden by a spike at 0.
        ``False`` includes every source cell.
    cmap
        Diverging colormap of the heatmap.
    figsize
        Figure size in inches (when a new figure is made).
    {doc_plot}

    {doc_plot_returns}
    The heatmap's colorbar has its own axes in the same figure.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=4, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> ax = sso.pl.displacement(adata, target="drug_1", top_n=6, show=False)
    >>> ax = sso.pl.displacement(adata, target="drug_1", top_n=6, kind="violin", show=False)
    """
    check_option("kind", kind, _KINDS)
    target, _rows, delta = _access.displacement(adata, key, target)
    if genes is None:
        if int(top_n) < 1:
            msg = f"top_n must be a positive integer, got {top_n!r}."
            raise ValueError(msg)
        genes = get.perturbed_genes(adata, target, key=key, top_n=int(top_n))["gene"].tolist()
    else:
        genes = [genes] if isinstance(genes, str) else list(genes)
        if not genes:
            msg = "genes is empty; pass None for the target's top_n genes or a list of gene names."
            raise ValueError(msg)
        genes = var_names_of(adata, genes, gene_symbols)
    idx = gene_index(adata, genes)
    labels = gene_labels(adata, genes, gene_symbols)
    source = get.params(adata, key=key)["source"]
    values = delta[:, idx].toarray()
    n_cells = values.shape[0]

    if kind == "heatmap":
        size = figsize or (max(4.5, 2.2 + 0.3 * len(genes)), 4.5)
        fig, ax_main = get_ax(ax, size)
        order = np.argsort(-np.asarray(abs(delta).sum(axis=1)).ravel(), kind="stable")
        limit = symmetric_limit(values)
        image = ax_main.imshow(
            values[order],
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            norm=TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit),
        )
        ax_main.set_yticks([])
        ax_main.set_ylabel(f"{source} cells (n = {n_cells}), most moved on top")
        ax_main.set_xticks(np.arange(len(genes)), labels=labels, rotation=90)
        ax_main.set_xlabel(_grey_unselected(ax_main, adata, key, target, genes, []))
        ax_main.set_title(f"Displacement {source} → {target}")
        cbar = fig.colorbar(image, ax=ax_main, shrink=0.9, pad=0.02)
        cbar.set_label("displacement T(x) − x")
    else:
        size = figsize or (max(4.5, 2.0 + 0.38 * len(genes)), 3.8)
        fig, ax_main = get_ax(ax, size)
        moved = values != 0
        data = [col[m] if moved_only else col for col, m in zip(values.T, moved.T, strict=True)]
        pos = np.arange(len(genes))
        drawn = [(p, d) for p, d in zip(pos, data, strict=True) if d.size > 1 and np.ptp(d) > 0]
        if drawn:
            parts = ax_main.violinplot(
                [d for _, d in drawn], positions=[p for p, _ in drawn], widths=0.8, showmedians=True
            )
            for body in parts["bodies"]:
                body.set_facecolor("#6a8fc7")
                body.set_edgecolor("#2f4b7c")
                body.set_alpha(0.8)
            for name in ("cmedians", "cmins", "cmaxes", "cbars"):
                parts[name].set_color("#2f4b7c")
                parts[name].set_linewidth(0.8)
        rest = [
            (p, d) for p, d in zip(pos, data, strict=True) if d.size and not (d.size > 1 and np.ptp(d) > 0)
        ]
        if rest:
            ax_main.scatter(
                [p for p, d in rest for _ in d], [v for _, d in rest for v in d], s=8, color="#2f4b7c"
            )
        ax_main.axhline(0.0, color="#7f7f7f", linewidth=0.8, zorder=0)
        top = max(float(np.max(np.abs(values))) if values.size else 0.0, 1e-12)
        ax_main.set_ylim(-1.15 * top, 1.3 * top)
        share = moved.mean(0)
        for p, s in zip(pos, share, strict=True):
            ax_main.text(p, 1.18 * top, f"{s:.0%}", ha="center", va="center", fontsize=7, color="#4d4d4d")
        ax_main.set_xticks(pos, labels=labels, rotation=90)
        ax_main.set_xlim(-0.6, len(genes) - 0.4)
        ax_main.set_xlabel(
            _grey_unselected(ax_main, adata, key, target, genes, ["share of cells moved above"])
        )
        ax_main.set_ylabel("displacement T(x) − x")
        which = f"moved {source} cells" if moved_only else f"all {source} cells"
        ax_main.set_title(f"Displacement {source} → {target} ({which})")
        ax_main.spines[["top", "right"]].set_visible(False)
    return finish(fig, ax_main, show=show, return_fig=return_fig, ax_given=ax is not None)


def _grey_unselected(
    ax: Axes, adata: AnnData, key: str, target: str, genes: list[str], notes: list[str]
) -> str:
    """Grey out the tick labels of the genes that are not selected; the x label, saying so if any are."""
    selected = get.perturbed_genes(adata, target, key=key).set_index("gene")["selected"]
    grey = [not bool(selected.get(g, False)) for g in genes]
    for tick, g in zip(ax.get_xticklabels(), grey, strict=True):
        if g:
            tick.set_color(_UNSELECTED)
    notes = [*notes, "grey: not selected"] if any(grey) else notes
    return f"gene ({'; '.join(notes)})" if notes else "gene"
