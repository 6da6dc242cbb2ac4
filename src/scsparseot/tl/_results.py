"""A target's results for the schema: gene selection (support, null p-values or the map's own tests), response scores, summary.

Also collects every target's results (warning about fits that diverged) and writes them in one call.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import _schema
from .._warnings import find_stack_level
from ..core import (
    benjamini_hochberg,
    empirical_pvalues,
    gene_scores,
    responder_fraction,
    responder_fraction_se,
    select_by_support,
    target_response,
)
from ..core.responders import normal_interval
from ._spec import call_level

if TYPE_CHECKING:
    from anndata import AnnData

    from ..core import CellData
    from ._args import SparseOTArgs
    from ._spec import TargetFit

__all__ = ["MAX_RESPONSE_GENES", "target_result", "target_results", "write_target_results"]

#: a target cell's response is read from its neighbours in at most this many selected genes
MAX_RESPONSE_GENES = 50


def target_result(
    target: str,
    tf: TargetFit,
    x: CellData,
    y: CellData,
    *,
    min_support: float,
    fdr: float | None,
    store_map: bool,
) -> _schema.TargetResult:
    """Everything written for one target: its gene selection, p-values, response scores and summary.

    Parameters
    ----------
    target
        The target's name.
    tf
        What its fit returned.
    x, y
        The source cells and the target's cells.
    min_support
        Least share of moved source cells of a selected gene (the sparse ICNN's selection).
    fdr
        Level of the Benjamini–Hochberg selection, which alone selects when there are p-values
        (``None``: by support alone without null fits, or 0.05 for maps whose p-values come from
        their own tests).
    store_map
        Keep the map's weights.

    Returns
    -------
    scsparseot._schema.TargetResult
        The target's results, in the schema's layout.
    """
    disp = tf.displacements
    support = disp.support
    selected = select_by_support(support, min_support)
    # with p-values, Benjamini–Hochberg alone selects: a support filter after BH would void its
    # guarantee, and a response confined to a small cell type moves few cells
    if tf.p_value is not None:  # the map's own tests
        p_value = tf.p_value
        adj_p_value = benjamini_hochberg(p_value)
        selected = adj_p_value <= call_level(fdr)
    elif tf.null_scores is not None:  # control-vs-control null maps
        # gene_scores averages |Δ| over cells: the row of mean |Δ| gives the same scores
        p_value = empirical_pvalues(gene_scores(disp.mean_abs[None, :], x.std(0)), tf.null_scores)
        adj_p_value = benjamini_hochberg(p_value)
        selected = adj_p_value <= call_level(fdr)
    else:
        p_value = adj_p_value = np.full(support.shape, np.nan)
    cols = np.flatnonzero(selected)
    x_sel, y_sel = x.columns(cols), y.columns(cols)
    # target cells are scored by their neighbours in the (at most 50) most moved selected genes
    near = np.argsort(-disp.mean_abs[cols], kind="stable")[:MAX_RESPONSE_GENES]
    tx_near = x_sel[:, near] + disp.kept[:, cols[near]].toarray()
    # a state-conditional map: a target cell's neighbours are the source cells of its own state
    groups = {"source_groups": tf.source_states, "target_groups": tf.target_states}
    if tf.responder_fraction is None:
        rho = responder_fraction(x_sel, y_sel)
        rho_se = responder_fraction_se(x_sel, y_sel)
    else:
        rho, rho_se = tf.responder_fraction, tf.responder_fraction_se
    rho_low, rho_high = normal_interval(rho, np.nan if rho_se is None else rho_se)
    summary = {
        "n_source": int(x.shape[0]),
        "n_target": int(y.shape[0]),
        "n_genes": int(x.shape[1]),
        "n_selected_genes": int(selected.sum()),
        "avg_dim": float(disp.avg_dim),
        "responder_fraction": rho,
        "responder_fraction_low": rho_low,
        "responder_fraction_high": rho_high,
        "sliced_w": float(disp.sliced_w),
        "lam": float(tf.lam),
        "n_iters": int(tf.n_iters),
        "converged": bool(tf.converged),
        "diverged": bool(tf.diverged),
        "reason": tf.reason,
        "null": tf.null_design,
        "seconds": float(tf.seconds),
    }
    return _schema.TargetResult(
        target=target,
        delta=disp.kept,
        response=disp.response,
        target_response=target_response(
            tx_near, disp.response, y_sel[:, near], scale=x_sel[:, near].std(0), **groups
        ),
        mean_displacement=disp.mean,
        mean_abs_displacement=disp.mean_abs,
        support_fraction=support,
        selected=selected,
        p_value=p_value,
        adj_p_value=adj_p_value,
        selection_frequency=np.full(support.shape, np.nan)
        if tf.selection_frequency is None
        else tf.selection_frequency,
        summary=summary,
        history=tf.history,
        moves=tf.moves,
        map_arrays=tf.map.to_arrays() if (store_map and tf.map is not None) else None,
        rank_by_p_value=tf.p_value is not None,
    )


def target_results(
    fits: dict[str, TargetFit],
    x: CellData,
    ys: dict[str, CellData],
    args: SparseOTArgs,
) -> list[_schema.TargetResult]:
    """Every target's :func:`target_result`, in the order of ``args.target_rows``.

    Parameters
    ----------
    fits
        What each target's fit returned.
    x, ys
        The source cells and each target's cells.
    args
        The checked arguments of :func:`~scsparseot.tl.sparse_ot` (``min_support``, ``fdr``,
        ``store_maps``).

    Returns
    -------
    list
        The targets' :class:`scsparseot._schema.TargetResult`.
    """
    results = [
        target_result(
            t, fits[t], x, ys[t], min_support=args.min_support, fdr=args.fdr, store_map=args.store_maps
        )
        for t in args.target_rows
    ]
    for res in results:
        if res.summary["diverged"]:
            warnings.warn(
                f"The fit for {res.target!r} diverged; lower the learning rate (config=TrainConfig(lr=...)) or scale the data (sc.pp.scale).",
                UserWarning,
                stacklevel=find_stack_level(),
            )
    return results


def write_target_results(
    adata: AnnData, args: SparseOTArgs, results: list[_schema.TargetResult], genes: list[str]
) -> list[str]:
    """Write the results and the call's parameters under ``args.key_added`` in one :func:`~scsparseot._schema.write_results`.

    Parameters
    ----------
    adata
        The AnnData to write into (the caller's, or its copy).
    args
        The checked arguments of :func:`~scsparseot.tl.sparse_ot`.
    results
        Every target's results.
    genes
        Names of the fitted genes.

    Returns
    -------
    list
        The names of the fields written.
    """
    return _schema.write_results(
        adata,
        args.key_added,
        params=args.params(genes),
        results=results,
        source_rows=args.source_rows,
        target_rows=args.target_rows,
        gene_idx=args.gene_idx,
    )
