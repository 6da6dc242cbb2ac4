"""``pl.gene_overlap``: how the perturbed-gene sets of the drugs overlap (UpSet plot or Jaccard heatmap)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from matplotlib.ticker import MaxNLocator

from .. import get
from .._docs import doc_adata, doc_key, doc_params, doc_plot
from ..get import _access
from ._utils import check_option, finish, get_ax, get_grid

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["gene_overlap"]

_KINDS = ("upset", "jaccard")
_MEMBER, _ABSENT = "#262626", "#d9d9d9"


def gene_sets(
    adata: AnnData,
    key: str = "sparse_ot",
    targets: str | Sequence[str] | None = None,
    *,
    selected_only: bool = True,
    top_n: int | None = None,
) -> dict[str, list[str]]:
    """The gene set of each target (in fit order), as :func:`gene_overlap` draws them."""
    targets = _access.check_targets(adata, key, targets, allow_empty=False)
    if not selected_only and top_n is None:
        msg = "With selected_only=False, give top_n (the number of best-ranked genes per target)."
        raise ValueError(msg)
    df = get.perturbed_genes(adata, targets, key=key, top_n=top_n, selected_only=selected_only)
    return {t: df.loc[df["target"] == t, "gene"].tolist() for t in targets}


def exclusive_intersections(sets: dict[str, list[str]]) -> list[tuple[tuple[bool, ...], list[str]]]:
    """Non-empty exclusive intersections, largest first.

    Each gene belongs to exactly one intersection: the combination of sets that contain it
    (as UpSetPlot counts them). Returns ``(membership, genes)`` pairs, ``membership[i]`` telling
    whether the ``i``-th set is part of the combination; ties are ordered by fewer sets first,
    then by set order.
    """
    names = list(sets)
    groups: dict[tuple[bool, ...], list[str]] = {}
    seen: list[str] = []
    for genes in sets.values():
        seen.extend(g for g in genes if g not in seen)
    members = {name: set(genes) for name, genes in sets.items()}
    for gene in seen:
        combo = tuple(gene in members[n] for n in names)
        groups.setdefault(combo, []).append(gene)
    return sorted(
        groups.items(),
        key=lambda item: (-len(item[1]), sum(item[0]), [not m for m in item[0]]),
    )


def _jaccard(sets: dict[str, list[str]]) -> np.ndarray:
    names = list(sets)
    out = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            sa, sb = set(sets[a]), set(sets[b])
            if sa | sb:
                out[i, j] = len(sa & sb) / len(sa | sb)
    return out


@doc_params(doc_adata=doc_adata, doc_key=doc_key, doc_plot=doc_plot)
def gene_overlap(
    adata: AnnData,
    *,
    key: str = "sparse_ot",
    kind: Literal["upset", "jaccard"] = "upset",
    targets: str | Sequence[str] | None = None,
    selected_only: bool = True,
    top_n: int | None = None,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | dict[str, Axes] | None:
    """Overlap of the perturbed-gene sets of the drugs: an UpSet plot or a Jaccard heatmap.

    The gene set of a drug is its selected genes (``selected_only=True``) or its ``top_n``
    best-ranked genes, as listed by :func:`scsparseot.get.perturbed_genes`.

    ``kind="upset"`` draws an UpSet plot (Lex et al. 2014): each column is an *exclusive*
    intersection (the genes moved by exactly that combination of drugs, as UpSetPlot counts them),
    with its size as a bar on top and its drugs as connected dots below; columns are sorted by size,
    and the bars on the right give each drug's number of genes. ``kind="jaccard"`` draws the
    drug × drug matrix of Jaccard indices ``|A ∩ B| / |A ∪ B|`` with the values written in the cells
    (``–`` where both sets are empty).

    Parameters
    ----------
    {doc_adata}
    {doc_key}
    kind
        ``"upset"`` or ``"jaccard"``.
    targets
        Targets (drugs) to compare, in this order; ``None``: every fitted target.
    selected_only
        Use the selected genes of each target (combined with ``top_n`` when that is given too).
        With ``False``, use the ``top_n`` best-ranked genes (``top_n`` is then required).
    top_n
        Keep at most the ``top_n`` best-ranked genes of each target.
    figsize
        Figure size in inches (when a new figure is made).
    {doc_plot}

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` if ``return_fig=True``; if ``show=False``, a dict of
    :class:`~matplotlib.axes.Axes`: ``"intersections"``, ``"matrix"`` and ``"sets"`` for the UpSet
    plot, ``"heatmap"`` for the Jaccard heatmap (the same type for both kinds); otherwise ``None``.
    With ``ax``, an UpSet plot replaces ``ax`` by its three panels in the same area.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=4, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> axes = sso.pl.gene_overlap(adata, show=False)
    >>> sorted(axes)
    ['intersections', 'matrix', 'sets']
    >>> axes = sso.pl.gene_overlap(adata, kind="jaccard", show=False)
    """
    check_option("kind", kind, _KINDS)
    sets = gene_sets(adata, key, targets, selected_only=selected_only, top_n=top_n)
    what = "selected genes" if selected_only else f"top {top_n} genes"
    if kind == "jaccard":
        n = len(sets)
        size = figsize or (max(3.8, 1.0 + 0.75 * n), max(3.0, 0.6 + 0.6 * n))
        fig, heat = get_ax(ax, size)
        _draw_jaccard(fig, heat, sets, what)
        axes = {"heatmap": heat}
    else:
        fig, axes = _draw_upset(ax, figsize, sets, what)
    return finish(fig, axes, show=show, return_fig=return_fig, ax_given=ax is not None)


def _draw_jaccard(fig: Figure, ax: Axes, sets: dict[str, list[str]], what: str) -> None:
    names = list(sets)
    values = _jaccard(sets)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(names)):
        for j in range(len(names)):
            v = values[i, j]
            text = "–" if np.isnan(v) else f"{v:.2f}"
            colour = "white" if np.isfinite(v) and v > 0.6 else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, labels=names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("drug")
    ax.set_ylabel("drug")
    ax.set_title(f"Overlap of {what} (Jaccard)")
    cbar = fig.colorbar(image, ax=ax, shrink=0.9)
    cbar.set_label("Jaccard index")


def _draw_upset(
    ax: Axes | None, figsize: tuple[float, float] | None, sets: dict[str, list[str]], what: str
) -> tuple[Figure, dict[str, Axes]]:
    names = list(sets)
    combos = exclusive_intersections(sets)
    n_cols, n_rows = max(len(combos), 1), len(names)
    size = figsize or (max(5.0, 2.6 + 0.42 * n_cols), max(3.6, 2.6 + 0.38 * n_rows))
    fig, grid = get_grid(
        ax,
        size,
        2,
        2,
        height_ratios=(3.0, max(1.0, 0.35 * n_rows)),
        width_ratios=(max(3.0, 0.4 * n_cols), 1.2),
    )
    bars = fig.add_subplot(grid[0, 0])
    matrix = fig.add_subplot(grid[1, 0], sharex=bars)
    side = fig.add_subplot(grid[1, 1], sharey=matrix)
    corner = fig.add_subplot(grid[0, 1])
    corner.set_axis_off()

    x = np.arange(len(combos))
    sizes = np.array([len(genes) for _, genes in combos])
    rows = np.arange(n_rows)

    # intersection sizes
    if combos:
        drawn = bars.bar(x, sizes, width=0.6, color=_MEMBER)
        bars.bar_label(drawn, padding=2, fontsize=8)
        bars.set_ylim(0, sizes.max() * 1.15)
    else:
        bars.text(0.5, 0.5, f"no {what}", transform=bars.transAxes, ha="center", va="center")
    bars.set_ylabel("genes in\nintersection")
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.set_title(f"Overlap of {what} across drugs")
    bars.spines[["top", "right"]].set_visible(False)
    bars.tick_params(axis="x", which="both", bottom=False, labelbottom=False)

    # membership matrix
    for r in rows[::2]:
        matrix.axhspan(r - 0.5, r + 0.5, color="#f2f2f2", zorder=0)
    for col, (combo, _genes) in enumerate(combos):
        member = np.array(combo)
        matrix.scatter(np.full(n_rows, col), rows, s=60, color=np.where(member, _MEMBER, _ABSENT), zorder=2)
        if member.sum() > 1:
            on = rows[member]
            matrix.plot([col, col], [on.min(), on.max()], color=_MEMBER, linewidth=2.0, zorder=1)
    matrix.set_xlim(-0.6, n_cols - 0.4)
    matrix.set_ylim(n_rows - 0.5, -0.5)
    matrix.set_yticks(rows, labels=names)
    matrix.set_xticks([])
    matrix.set_xlabel("exclusive intersections (sorted by size)")
    for spine in matrix.spines.values():
        spine.set_visible(False)
    matrix.tick_params(axis="y", length=0)

    # set sizes
    set_sizes = [len(genes) for genes in sets.values()]
    drawn = side.barh(rows, set_sizes, height=0.5, color="#7f7f7f")
    side.bar_label(drawn, padding=2, fontsize=8)
    side.set_xlim(0, max(max(set_sizes, default=0), 1) * 1.3)
    side.set_xlabel("genes per drug")
    side.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
    side.tick_params(axis="y", which="both", left=False, labelleft=False)
    side.spines[["top", "right", "left"]].set_visible(False)
    return fig, {"intersections": bars, "matrix": matrix, "sets": side}
