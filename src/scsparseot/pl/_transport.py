"""``pl.transport``: source cells and their images under the fitted map on a PCA embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from .. import get
from .._docs import doc_adata, doc_key, doc_params, doc_plot, doc_plot_returns
from ..get import _access
from ._utils import finish, gene_index, get_ax

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["transport"]

_SOURCE, _IMAGE, _TARGET, _ARROW = "#3b6fb6", "#e6862a", "#c8c8c8", "#404040"


def _dense(matrix: np.ndarray | sparse.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    block = matrix[rows][:, cols]
    return np.asarray(block.toarray() if sparse.issparse(block) else block, dtype=np.float64)


def _pca(x: np.ndarray, n_comps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates of the cells ``x``, the first ``n_comps`` principal axes (rows) and their variance ratios.

    :func:`scanpy.pp.pca` of the array (nothing is written to an AnnData), with the exact
    (``"full"``) solver in float64, so the result is deterministic; the ratios are 0 when the cells
    do not vary at all.
    """
    import scanpy as sc

    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 ratios of constant data
        coords, axes_, ratio, _ = sc.pp.pca(
            x, n_comps=n_comps, svd_solver="full", random_state=0, return_info=True, dtype="float64"
        )
    return np.asarray(coords), np.asarray(axes_), np.where(np.isfinite(ratio), ratio, 0.0)


@doc_params(
    doc_adata=doc_adata,
    doc_key=doc_key,
    doc_plot=doc_plot,
    doc_plot_returns=doc_plot_returns,
)
def transport(
    adata: AnnData,
    target: str | None = None,
    *,
    key: str = "sparse_ot",
    basis: str = "pca",
    components: tuple[int, int] = (1, 2),
    genes: Sequence[str] | None = None,
    n_arrows: int = 200,
    seed: int = 0,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | Axes | None:
    """Source cells, their images ``T(x)`` and the target cells on a PCA embedding, with arrows.

    The image of a source cell is ``x + Δ``, with ``Δ`` the (sparsified) displacement layer written
    by :func:`scsparseot.tl.sparse_ot`. Because a PCA is linear, the image's coordinates are the
    cell's coordinates plus ``Δ`` projected on the loadings, so cells and images share one embedding.

    * If ``adata.obsm["X_pca"]`` exists (e.g. from :func:`scanpy.pp.pca`), it is used with the
      loadings ``adata.varm["PCs"]``. This assumes the PCA was computed on the same values the map
      was fitted on (the fit's ``layer``, same scaling).
    * Otherwise a PCA of the fitted genes of the source and target cells is computed here
      (:func:`scanpy.pp.pca` of those cells; nothing is written to ``adata``).

    Non-linear embeddings (UMAP, t-SNE) cannot place the images, so other bases are refused.

    Parameters
    ----------
    {doc_adata}
    target
        The target (drug); may be omitted when only one was fitted.
    {doc_key}
    basis
        Only ``"pca"`` (``obsm["X_pca"]`` with ``varm["PCs"]``, or a PCA computed on the fly).
    components
        The two principal components to show, 1-based.
    genes
        Genes of the PCA computed here (when ``obsm["X_pca"]`` is missing); ``None``: every fitted
        gene. A sparse map moves few genes, so their moves can look small on a PCA of all genes;
        a PCA of the selected genes (e.g. ``sso.get.perturbed_genes(adata, target=...,
        selected_only=True)["gene"]``) shows them clearly.
    n_arrows
        Arrows drawn, from randomly chosen source cells that move (all of them if fewer).
    seed
        Seed of the choice of arrows.
    figsize
        Figure size in inches (when a new figure is made).
    {doc_plot}

    {doc_plot_returns}

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=4, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> ax = sso.pl.transport(adata, target="drug_1", n_arrows=50, show=False)
    """
    if basis != "pca":
        msg = (
            f"basis={basis!r}: arrows need a linear embedding to place the transported cells, so only "
            "basis='pca' is supported (adata.obsm['X_pca'] with its loadings in adata.varm['PCs'], e.g. "
            "from scanpy.pp.pca, or, when X_pca is missing, a PCA of the fitted genes computed on the fly). "
            f"A non-linear embedding such as adata.obsm['X_{basis}'] cannot place T(x)."
        )
        raise ValueError(msg)
    comps = np.asarray(components, dtype=int) - 1
    if comps.shape != (2,) or (comps < 0).any() or comps[0] == comps[1]:
        msg = f"components must be two different 1-based component numbers, e.g. (1, 2); got {components!r}."
        raise ValueError(msg)
    if int(n_arrows) < 0:
        msg = f"n_arrows must be >= 0, got {n_arrows!r}."
        raise ValueError(msg)
    target, rows, delta = _access.displacement(adata, key, target)
    source = get.params(adata, key=key)["source"]
    trows = _access.target_rows(adata, key, target)

    if "X_pca" in adata.obsm:
        if genes is not None:
            msg = "genes= chooses the genes of a PCA computed here; adata.obsm['X_pca'] exists and is used instead (delete it to compute a PCA of these genes)."
            raise ValueError(msg)
        if "PCs" not in adata.varm:
            msg = (
                "adata.obsm['X_pca'] exists but its loadings adata.varm['PCs'] do not, so the transported "
                "cells cannot be projected; rerun scanpy.pp.pca(adata) or delete adata.obsm['X_pca'] to "
                "let this function compute a PCA."
            )
            raise ValueError(msg)
        emb = np.asarray(adata.obsm["X_pca"])
        loadings = np.asarray(adata.varm["PCs"])
        if comps.max() >= min(emb.shape[1], loadings.shape[1]):
            msg = f"components={components!r}, but adata.obsm['X_pca'] has {emb.shape[1]} components."
            raise ValueError(msg)
        src = emb[rows][:, comps]
        tgt = emb[trows][:, comps]
        shift = np.asarray(delta @ loadings[:, comps])
        labels = [f"PC{c + 1}" for c in comps]
    else:
        matrix, gidx = _access.fitted_data(adata, key)
        if genes is not None:
            genes = [genes] if isinstance(genes, str) else [str(g) for g in genes]
            chosen = gene_index(adata, genes)
            outside = [g for g, i in zip(genes, chosen, strict=True) if i not in set(gidx.tolist())]
            if outside or not genes:
                msg = f"genes must be non-empty and among the fitted genes; not fitted: {outside[:10]}."
                raise ValueError(msg)
            gidx = chosen
        x = _dense(matrix, np.concatenate([rows, trows]), gidx)
        n_comps = int(comps.max()) + 1
        if n_comps > min(x.shape):
            msg = (
                f"components={components!r} needs {n_comps} components; the data have at most {min(x.shape)}."
            )
            raise ValueError(msg)
        coords, axes_, ratio = _pca(x, n_comps)
        src, tgt = coords[: rows.size, comps], coords[rows.size :, comps]
        shift = np.asarray(delta[:, gidx] @ axes_[comps].T)
        on = "fitted genes" if genes is None else f"{gidx.size} genes"
        labels = [f"PC{c + 1} of {on} ({ratio[c]:.0%} of variance)" for c in comps]
    img = src + shift

    size = figsize or (6.8, 4.8)
    fig, ax_main = get_ax(ax, size)
    ax_main.scatter(tgt[:, 0], tgt[:, 1], s=8, color=_TARGET, label=f"{target} cells", zorder=1, linewidths=0)
    ax_main.scatter(
        src[:, 0], src[:, 1], s=8, color=_SOURCE, label=f"{source} cells x", zorder=2, linewidths=0
    )
    ax_main.scatter(img[:, 0], img[:, 1], s=8, color=_IMAGE, label="transported T(x)", zorder=3, linewidths=0)
    moved = np.flatnonzero(np.asarray(abs(delta).sum(axis=1)).ravel() > 0)
    if moved.size and int(n_arrows) > 0:
        pick = np.random.default_rng(seed).choice(moved, size=min(int(n_arrows), moved.size), replace=False)
        ax_main.quiver(
            src[pick, 0],
            src[pick, 1],
            shift[pick, 0],
            shift[pick, 1],
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.003,
            headwidth=4,
            headlength=5,
            color=_ARROW,
            alpha=0.35,
            zorder=2.5,  # over the source cells, under their images
        )
    ax_main.set_xlabel(labels[0])
    ax_main.set_ylabel(labels[1])
    n_shown = min(int(n_arrows), moved.size)
    ax_main.set_title(f"Transport {source} → {target} ({n_shown} arrows)")
    # outside the axes: inside, it hides cells whatever corner it takes
    handles, names = ax_main.get_legend_handles_labels()
    order = [1, 2, 0]  # in the order of the story: control cells, their images, the target cells
    ax_main.legend(
        [handles[i] for i in order],
        [names[i] for i in order],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        markerscale=2.0,
        frameon=False,
    )
    ax_main.set_aspect("auto")
    return finish(fig, ax_main, show=show, return_fig=return_fig, ax_given=ax is not None)
