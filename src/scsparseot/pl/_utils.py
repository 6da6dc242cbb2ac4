"""Shared plumbing of the plot functions: axes creation, finishing, gene positions and option checks.

Plots read results only through :mod:`scsparseot.get`; this module never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpecBase

A = TypeVar("A")

DIVERGING = "RdBu_r"


def get_ax(ax: Axes | None, figsize: tuple[float, float] | None) -> tuple[Figure, Axes]:
    """The figure and axes to draw into: ``ax`` itself, or a new figure with constrained layout."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def get_grid(
    ax: Axes | None,
    figsize: tuple[float, float] | None,
    nrows: int,
    ncols: int,
    **gridspec_kw: Any,
) -> tuple[Figure, GridSpecBase]:
    """A grid for a multi-panel plot: a new figure, or the area of ``ax`` (which is removed)."""
    if ax is None:
        fig = plt.figure(figsize=figsize, layout="constrained")
        return fig, fig.add_gridspec(nrows, ncols, **gridspec_kw)
    fig = ax.figure
    spec = ax.get_subplotspec()
    if spec is not None:
        grid = spec.subgridspec(nrows, ncols, **gridspec_kw)
    else:  # an axes placed with fig.add_axes: split its rectangle
        box = ax.get_position()
        grid = GridSpec(
            nrows, ncols, figure=fig, left=box.x0, right=box.x1, bottom=box.y0, top=box.y1, **gridspec_kw
        )
    ax.remove()
    return fig, grid


def finish(
    fig: Figure,
    ax: A,
    *,
    show: bool | None,
    return_fig: bool,
    ax_given: bool = False,
) -> Figure | A | None:
    """Show and/or return, following scanpy.

    ``show=None`` shows the plot unless the caller passed ``ax`` (``ax_given``) or asked for the
    figure. Returns the figure if ``return_fig``, ``ax`` (an Axes or a dict of Axes) if the plot is
    not shown, otherwise ``None``.
    """
    if show is None:
        show = not (ax_given or return_fig)
    if show:
        plt.show()
    if return_fig:
        return fig
    if not show:
        return ax
    return None


def gene_index(adata: AnnData, genes: Sequence[str]) -> np.ndarray:
    """Positions of ``genes`` in ``var_names``; a KeyError names the unknown ones."""
    idx = adata.var_names.get_indexer(list(genes))
    if (idx < 0).any():
        missing = [g for g, i in zip(genes, idx, strict=True) if i < 0]
        msg = f"Genes not in adata.var_names: {missing[:10]}{' ...' if len(missing) > 10 else ''}."
        raise KeyError(msg)
    return idx


def var_names_of(adata: AnnData, genes: Sequence[str], gene_symbols: str | None) -> list[str]:
    """``genes`` as ``var_names``: names of ``adata.var[gene_symbols]`` are translated (first match).

    A name that is already a ``var_name`` is kept; a KeyError names those found in neither.
    """
    genes = [str(g) for g in genes]
    if gene_symbols is None:
        return genes
    symbols = _symbols(adata, gene_symbols)
    first = dict(zip(symbols[::-1], adata.var_names[::-1], strict=True))  # the first occurrence wins
    known = set(adata.var_names)
    missing = [g for g in genes if g not in first and g not in known]
    if missing:
        msg = f"Genes not in adata.var[{gene_symbols!r}] nor adata.var_names: {missing[:10]}."
        raise KeyError(msg)
    return [first.get(g, g) for g in genes]


def gene_labels(adata: AnnData, genes: Sequence[str], gene_symbols: str | None) -> list[str]:
    """Tick labels of ``genes`` (``var_names``): their ``adata.var[gene_symbols]``, or themselves."""
    genes = [str(g) for g in genes]
    if gene_symbols is None:
        return genes
    symbols = _symbols(adata, gene_symbols)
    return [str(symbols[i]) for i in gene_index(adata, genes)]


def _symbols(adata: AnnData, gene_symbols: str) -> np.ndarray:
    if not isinstance(gene_symbols, str):
        msg = f"gene_symbols must be the name of a column of adata.var, got {type(gene_symbols).__name__}."
        raise TypeError(msg)
    if gene_symbols not in adata.var.columns:
        msg = f"gene_symbols={gene_symbols!r} is not a column of adata.var; columns: {list(adata.var.columns)[:20]}."
        raise KeyError(msg)
    return adata.var[gene_symbols].astype(str).to_numpy()


def check_option(name: str, value: str, options: Sequence[str]) -> None:
    if value not in options:
        msg = f"{name} must be one of {list(options)}, got {value!r}."
        raise ValueError(msg)


def symmetric_limit(values: np.ndarray) -> float:
    """Half-width of a colour scale centred at 0 that covers ``values`` (1 when all are 0)."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    vmax = float(finite.max()) if finite.size else 0.0
    return vmax if vmax > 0 else 1.0
