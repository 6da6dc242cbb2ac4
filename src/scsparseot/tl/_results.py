"""A target's results in the schema's layout: what its fit computed, with a summary.

Also collects every target's results (warning about fits that diverged) and writes them in one call.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import _schema
from .._foldchange import log2_fold_change
from .._warnings import find_stack_level
from ..core import ConditionalFit

if TYPE_CHECKING:
    from anndata import AnnData

    from ..core import CellData, MapFit
    from ._args import SparseOTArgs

__all__ = ["target_result", "target_results", "write_target_results"]


def target_result(
    target: str, fit: MapFit, x: CellData, y: CellData, *, store_map: bool, log_base: float | None = None
) -> _schema.TargetResult:
    """Everything written for one target, in the schema's layout, from what its fit computed (nothing is recomputed).

    Parameters
    ----------
    target
        The target's name.
    fit
        What its fit returned.
    x, y
        The source cells and the target's cells (their shapes go into the summary; ``log_fc`` reads
        their means from the profiles cached when the data were checked, so nothing is reread).
    store_map
        Keep the map's weights.
    log_base
        The base of the data's ``log1p`` (:func:`scsparseot._foldchange.log1p_base`), for the gene
        table's ``log_fc``; ``None`` (data not marked log-normalised) leaves it ``NaN``.

    Returns
    -------
    scsparseot._schema.TargetResult
        The target's results, in the schema's layout.
    """
    disp, selected = fit.displacements, fit.selected
    nan = np.full(disp.support.shape, np.nan)
    rho_low, rho_high = fit.responder_interval
    summary = {
        "n_source": int(x.shape[0]),
        "n_target": int(y.shape[0]),
        "n_genes": int(x.shape[1]),
        "n_selected_genes": int(selected.sum()),
        "avg_dim": float(disp.avg_dim),
        "responder_fraction": fit.responder_fraction,
        "responder_fraction_low": rho_low,
        "responder_fraction_high": rho_high,
        "sliced_w": float(disp.sliced_w),
        "lam": float(fit.lam),
        "n_iters": int(fit.n_iters),
        "converged": bool(fit.converged),
        "diverged": bool(fit.diverged),
        "reason": fit.reason,
        "null": fit.null_design,
        **_composition_summary(fit),
        "seconds": float(fit.seconds),
    }
    return _schema.TargetResult(
        target=target,
        delta=disp.kept,
        response=disp.response,
        target_response=fit.target_response,
        log_fc=log2_fold_change(x.mean(0), y.mean(0), log_base),
        mean_displacement=disp.mean,
        mean_abs_displacement=disp.mean_abs,
        support_fraction=disp.support,
        selected=selected,
        p_value=nan if fit.p_value is None else fit.p_value,
        adj_p_value=nan if fit.adj_p_value is None else fit.adj_p_value,
        selection_frequency=nan if fit.selection_frequency is None else fit.selection_frequency,
        summary=summary,
        history=fit.history,
        moves=fit.moves,
        map_arrays=fit.map.to_arrays() if (store_map and fit.map is not None) else None,
        rank_by_p_value=fit.null_design == "tests",
        **_state_results(fit),
    )


def _state_results(fit: MapFit) -> dict[str, object]:
    """The states of a fit with states (:class:`~scsparseot.core.ConditionalFit`), in the schema's layout."""
    if not isinstance(fit, ConditionalFit) or not fit.state_genes:
        return {}
    names = np.asarray(fit.state_names, dtype=str)
    states = {"names": names.astype(object)}
    states.update({c: np.asarray(fit.states[c]) for c in _schema.STATE_ARRAYS if c != "names"})
    states.update({c: np.asarray(fit.state_genes[c]) for c in _schema.STATE_GENE_ARRAYS})
    states["sd"] = np.asarray(fit.map.sd, dtype=np.float32)
    states["test_level"] = np.asarray(fit.test_level, dtype=object)
    return {
        "source_states": names[fit.source_states],
        "target_states": names[fit.target_states],
        "states": states,
        "composition": dict(fit.composition),
    }


def _composition_summary(fit: MapFit) -> dict[str, object]:
    """The summary's state columns: the test's units, the states and the largest change of composition."""
    if not isinstance(fit, ConditionalFit) or not fit.composition:
        return {
            "test_level": "cells" if fit.p_value is not None else "none",
            "n_states": 0,
            "composition_state": np.nan,
            "composition_log2_ratio": np.nan,
            "composition_adj_p_value": np.nan,
        }
    comp = fit.composition
    # the smallest adjusted p-value; among equal ones (all 1, say) the largest |log2 ratio|
    i = int(np.lexsort((-np.abs(comp["log2_ratio"]), comp["adj_p_value"]))[0])
    return {
        "test_level": fit.test_level,
        "n_states": len(fit.state_names),
        "composition_state": str(fit.state_names[i]),
        "composition_log2_ratio": float(comp["log2_ratio"][i]),
        "composition_adj_p_value": float(comp["adj_p_value"][i]),
    }


def target_results(
    fits: dict[str, MapFit],
    x: CellData,
    ys: dict[str, CellData],
    args: SparseOTArgs,
    *,
    log_base: float | None = None,
) -> list[_schema.TargetResult]:
    """Every target's :func:`target_result`, in the order of ``args.target_rows``.

    Parameters
    ----------
    fits
        What each target's fit returned.
    x, ys
        The source cells and each target's cells.
    args
        The checked arguments of :func:`~scsparseot.tl.sparse_ot` (the targets' order, ``store_maps``).
    log_base
        As in :func:`target_result`.

    Returns
    -------
    list
        The targets' :class:`scsparseot._schema.TargetResult`.
    """
    results = [
        target_result(t, fits[t], x, ys[t], store_map=args.store_maps, log_base=log_base)
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
        shared_states=args.state_key is not None,
    )
