"""``pl.training``: λ, average dimension, error and λ-search moves over the training steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from .. import get
from .._docs import doc_adata, doc_key, doc_params, doc_plot
from ..get import _access
from ._utils import finish, get_grid

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["training"]

_LINE = "#2f4b7c"
_ACCEPTED = "#1a9850"
_REJECTED = "#d73027"


def _mark_moves(ax: Axes, moves: pd.DataFrame | None, column: str) -> None:
    """Accepted moves as filled circles, rejected as hollow ones."""
    if moves is None or not len(moves):
        return
    acc = moves["accepted"].astype(bool).to_numpy()
    step, value = moves["step"].to_numpy(float), moves[column].to_numpy(float)
    ax.scatter(step[acc], value[acc], s=28, color=_ACCEPTED, zorder=3, label="accepted move")
    ax.scatter(
        step[~acc],
        value[~acc],
        s=28,
        facecolors="none",
        edgecolors=_REJECTED,
        linewidths=1.2,
        zorder=3,
        label="rejected move",
    )


def _kept(step: np.ndarray) -> np.ndarray:
    """Records on the final training path: a record is dropped if a later one has a step at most its own.

    A rejected λ move restores the networks from before the move, so the history logged during that
    move was rolled back, and the steps start again from the restored step.
    """
    keep = np.ones(step.size, dtype=bool)
    later_min = np.inf
    for i in range(step.size - 1, -1, -1):
        keep[i] = step[i] < later_min
        later_min = min(later_min, step[i])
    return keep


def _trace(
    ax: Axes,
    step: np.ndarray,
    values: np.ndarray,
    keep: np.ndarray,
    *,
    color: str = _LINE,
    label: str | None = None,
) -> None:
    """The kept path as a line; rolled-back stretches as thin dashed branches from where they started."""
    ax.plot(
        step[keep], values[keep], color=color, linewidth=1.4, marker=".", markersize=4, zorder=2, label=label
    )
    dropped = np.flatnonzero(~keep)
    if not dropped.size:
        return
    runs = np.split(dropped, np.flatnonzero(np.diff(dropped) > 1) + 1)
    for k, run in enumerate(runs):
        idx = np.concatenate([[run[0] - 1], run]) if run[0] > 0 else run
        ax.plot(
            step[idx],
            values[idx],
            color="#9e9e9e",
            linewidth=0.9,
            linestyle="--",
            zorder=1,
            label="rolled back (rejected move)" if k == 0 else None,
        )


def _traces(hist: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray, str, str | None]]:
    """Rows, kept records, colour and label of each network's trace (one per state when there are states)."""
    if not len(hist):
        return []
    state = hist["state"].to_numpy()
    step = hist["step"].to_numpy(float)
    if (state < 0).all():  # one network for every cell
        return [(np.arange(len(hist)), _kept(step), _LINE, None)]
    colors = plt.get_cmap("tab10").colors
    out = []
    for k, c in enumerate(np.unique(state)):
        rows = np.flatnonzero(state == c)
        out.append((rows, _kept(step[rows]), colors[k % len(colors)], f"state {c}"))
    return out


@doc_params(doc_adata=doc_adata, doc_key=doc_key, doc_plot=doc_plot)
def training(
    adata: AnnData,
    target: str | None = None,
    *,
    key: str = "sparse_ot",
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    return_fig: bool = False,
) -> Figure | dict[str, Axes] | None:
    """Training traces of one target: λ, average dimension, sliced-W error and the λ search.

    Four panels over the training steps, from :func:`scsparseot.get.training_history` and the
    λ moves stored by :func:`scsparseot.tl.sparse_ot`:

    * ``"lam"``: the penalty strength λ (log scale);
    * ``"dim"``: the average number of genes moved per cell (with the ``max_genes`` limit, if any);
    * ``"err"``: the sliced-Wasserstein error between transported and target cells;
    * ``"eval"``: the score of each move of an automatic λ search (``Eval`` for ``lam="auto"``, the
      error for ``max_genes``), accepted moves as filled green circles and rejected ones as hollow
      red circles. With a fixed λ there are no moves, and the panel shows the sparsity term
      ``Spa`` (mean penalty of the displacements) instead.

    Moves are also marked on the λ, dimension and error traces. A rejected move restores the
    networks from before it, so what was logged during that move is drawn as a dashed grey branch
    off the kept training path. The state-conditional map trains one network per moving state: each
    state's trace is drawn in its own colour, over its own steps.

    Parameters
    ----------
    {doc_adata}
    target
        The target (drug); may be omitted when only one was fitted.
    {doc_key}
    figsize
        Figure size in inches (when a new figure is made).
    {doc_plot}

    Returns
    -------
    The :class:`~matplotlib.figure.Figure` if ``return_fig=True``; if ``show=False``, a dict of
    :class:`~matplotlib.axes.Axes` with keys ``"lam"``, ``"dim"``, ``"err"``, ``"eval"``;
    otherwise ``None``. With ``ax``, the four panels replace ``ax`` in the same area.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=4)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, progress=False)
    >>> axes = sso.pl.training(adata, show=False)
    >>> sorted(axes)
    ['dim', 'err', 'eval', 'lam']
    """
    target = _access.check_target(adata, key, target)
    hist = get.training_history(adata, target, key=key)
    moves = _access.moves(adata, key, target)
    max_genes = get.params(adata, key=key).get("max_genes")
    traces = _traces(hist)

    fig, grid = get_grid(ax, figsize or (8.0, 5.6), 2, 2)
    axes: dict[str, Axes] = {}
    axes["lam"] = fig.add_subplot(grid[0, 0])
    for name, pos in (("dim", (0, 1)), ("err", (1, 0)), ("eval", (1, 1))):
        axes[name] = fig.add_subplot(grid[pos], sharex=axes["lam"])

    spec = {
        "lam": ("lam", "λ", "Penalty strength λ"),
        "dim": ("dim", "genes moved per cell", "Average dimension"),
        "err": ("err", "sliced Wasserstein", "Error Err (sliced W)"),
    }
    for name, (column, ylabel, title) in spec.items():
        a = axes[name]
        for rows, keep, color, label in traces:
            _trace(
                a,
                hist["step"].to_numpy(float)[rows],
                hist[column].to_numpy(float)[rows],
                keep,
                color=color,
                label=label,
            )
        _mark_moves(a, moves, column)
        a.set_ylabel(ylabel)
        a.set_title(title)
    lam = hist["lam"].to_numpy(float) if len(hist) else np.array([])
    if lam.size and (lam > 0).all() and lam.max() / lam.min() > 2:
        axes["lam"].set_yscale("log")
    elif lam.size and moves is None and np.ptp(lam) == 0:  # fixed λ: a flat line with sensible limits
        axes["lam"].set_ylim(0.0, 1.5 * lam[0] if lam[0] > 0 else 1.0)
        axes["lam"].set_title(f"Penalty strength λ (fixed, {lam[0]:g})")
    if max_genes is not None:
        axes["dim"].axhline(
            float(max_genes), color="#d95f02", linestyle=":", linewidth=1.2, label="max_genes"
        )
        axes["dim"].legend(loc="best", fontsize=8, frameon=False)
    # a count, from 0: a drop from 12.4 to 12 genes should not look like a cliff
    axes["dim"].set_ylim(0.0, 1.1 * max(axes["dim"].get_ylim()[1], 1.0))

    a = axes["eval"]
    if moves is not None:
        label = "Err" if max_genes is not None else "Eval = α·Spa + (1 − α)·Err"
        accepted = moves[moves["accepted"].astype(bool)]
        a.plot(
            accepted["step"].to_numpy(float),
            accepted["eval"].to_numpy(float),
            color="#bdbdbd",
            linewidth=1,
            zorder=1,
        )
        _mark_moves(a, moves, "eval")
        a.set_ylabel(label)
        a.set_title("λ search: score of each move")
        a.legend(loc="best", fontsize=8, frameon=False)
    else:
        for rows, keep, color, label in traces:
            _trace(
                a,
                hist["step"].to_numpy(float)[rows],
                hist["spa"].to_numpy(float)[rows],
                keep,
                color=color,
                label=label,
            )
        if traces and traces[0][3]:  # per-state traces: say which is which
            a.legend(loc="best", fontsize=8, frameon=False)
        a.set_ylabel("mean penalty Spa")
        a.set_title("Sparsity term (fixed λ: no λ search)")
    for name in ("err", "eval"):
        axes[name].set_xlabel("training step")
    for name in ("lam", "dim"):
        axes[name].tick_params(labelbottom=False)
    if not len(hist):
        for a in axes.values():
            a.text(0.5, 0.5, "no training history", transform=a.transAxes, ha="center", va="center")
    if ax is None:
        fig.suptitle(
            f"Training of {target}" + (" (one network per moving state)" if traces and traces[0][3] else "")
        )
    else:
        axes["lam"].set_title(f"{target}: penalty strength λ")
    return finish(fig, axes, show=show, return_fig=return_fig, ax_given=ax is not None)
