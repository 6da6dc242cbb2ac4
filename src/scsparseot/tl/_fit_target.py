"""One target's fit: the map (sparse ICNN, state-conditional or a baseline), its refits, null fits and calls.

Every method's task returns one :class:`~scsparseot.core.MapFit` with the displacements of the
source cells, the gene calls (p-values, adjusted p-values and the selection, computed once), the
responder share and the target cells' response scores: the state-conditional map's
:class:`~scsparseot.core.ConditionalFit` with the response scores added, the others' with the calls
of their null maps (or their support) added here too.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ..core import (
    MapFit,
    benjamini_hochberg,
    empirical_pvalues,
    fit_conditional,
    fit_map,
    gene_scores,
    null_scores,
    null_split_sizes,
    responder_fraction,
    responder_fraction_se,
    select_by_support,
    selection_frequency,
    summarise_displacements,
    target_response,
)
from ._spec import CellDesign, call_level

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ..core import CellData, DisplacementSummary, FitResult, SourceSide
    from ._spec import FitSpec

__all__ = ["MAX_RESPONSE_GENES", "fit_target", "torch_num_threads"]

#: a target cell's response is read from its neighbours in at most this many selected genes
MAX_RESPONSE_GENES = 50


def _fit(
    x: CellData,
    y: CellData,
    spec: FitSpec,
    seed: int,
    genes: list[str],
    callback: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    return fit_map(
        x,
        y,
        penalty=spec.penalty,
        lam=spec.lam,
        max_genes=spec.max_genes,
        config=spec.config,
        anneal=spec.anneal,
        support_tol=spec.support_tol,
        seed=seed,
        device=spec.device,
        genes=genes,
        callback=callback,
    )


def _baseline_map(x: np.ndarray, y: np.ndarray, spec: FitSpec, seed: int) -> np.ndarray:
    """Images ``T(x)`` under a closed-form or non-neural baseline map (``method != "sparse_icnn"``)."""
    from .. import baselines

    if spec.method == "exact":
        return baselines.exact_ot_map(x, y)
    if spec.method == "translation":
        return baselines.translation_map(x, y, spec.support_tol)
    if spec.method == "elastic":
        return baselines.elastic_map(x, y, support_tol=spec.support_tol)
    return baselines.rgd_map(x, y, max_genes=spec.max_genes, seed=seed)


def fit_target(
    x: CellData,
    y: CellData,
    spec: FitSpec,
    seed: int,
    genes: list[str],
    callback: Callable[[dict[str, float]], None] | None = None,
    *,
    design: CellDesign | None = None,
    source: SourceSide | None = None,
) -> MapFit:
    """Fit one target (a top-level function so that process and cluster executors can run it).

    ``x`` and ``y`` are :class:`~scsparseot.core.CellData` (dense, CSR or read from a backed
    file); the neural fit reads them one mini-batch at a time. With ``spec.n_runs > 0``, refit ``n_runs`` times on random 80% subsamples at the main fit's
    final λ (no new λ search) and record how often each gene is selected. With ``spec.fdr``, fit
    ``spec.n_null`` control-vs-control maps (same method, the main fit's λ) for the null scores.
    With ``spec.num_threads``, torch uses that many intra-op threads for the fit (executor workers
    default to all cores, which changes float reductions and so the results). The state-conditional
    map tests its genes itself (no null fits); ``design`` gives it the cells' states and replicates,
    and ``source`` the work on ``x`` shared by every target (:func:`~scsparseot.core.prepare_source`;
    prepared here from ``x`` and ``seed`` when not given).
    """
    with _torch_threads(spec.num_threads):
        return _with_cell_responses(_fit_target(x, y, spec, seed, genes, callback, design, source), x, y)


def torch_num_threads() -> int:
    """The number of intra-op threads torch uses in this process."""
    import torch

    return torch.get_num_threads()


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    import torch

    old = torch.get_num_threads()
    if n is not None and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def _fit_target(
    x: CellData,
    y: CellData,
    spec: FitSpec,
    seed: int,
    genes: list[str],
    callback: Callable[[dict[str, float]], None] | None,
    design: CellDesign | None,
    source: SourceSide | None,
) -> MapFit:
    if spec.method == "conditional":
        design = design or CellDesign()
        return fit_conditional(
            x.to_numpy() if source is None else source,
            y.to_numpy(),
            fdr=call_level(spec.fdr),
            config=spec.config,
            support_tol=spec.support_tol,
            penalty=spec.penalty,
            lam=float(spec.lam),
            device=spec.device,
            seed=seed,
            genes=genes,
            callback=callback,
            source_labels=design.source_states,
            target_labels=design.target_states,
            source_replicates=design.source_replicates,
            target_replicates=design.target_replicates,
        )
    if spec.method != "sparse_icnn":
        return _fit_baseline(x, y, spec, seed)
    main = _fit(x, y, spec, seed, genes, callback)
    fixed = replace(spec, lam=main.lam, max_genes=None)
    freq = null = None
    if spec.n_runs > 0:
        freq = selection_frequency(
            x,
            y,
            lambda xs, ys, s: _fit(xs, ys, fixed, s, genes),
            n_runs=spec.n_runs,
            min_support=spec.min_support,
            seed=seed,
        )
    if spec.fdr is not None:
        null = null_scores(
            x,
            lambda a, b, s: _null_row(_fit(a, b, fixed, s, genes), a),
            n_null=spec.n_null,
            n_target=y.shape[0],
            seed=seed,
        )
    disp = summarise_displacements(x, main.map, main.map.support_tol, y=y)
    return replace(main, selection_frequency=freq, **_calls(x, y, disp, null, spec))


def _fit_baseline(x: CellData, y: CellData, spec: FitSpec, seed: int) -> MapFit:
    """A baseline map; the baselines need every cell at once (exact OT and the elastic map hold n × m matrices)."""
    xd, yd = x.to_numpy(), y.to_numpy()
    t0 = time.perf_counter()
    delta = _baseline_map(xd, yd, spec, seed) - xd
    seconds = time.perf_counter() - t0
    null = None
    if spec.fdr is not None:
        null = null_scores(
            xd,
            lambda a, b, s: _baseline_map(a, b, spec, s) - a,
            n_null=spec.n_null,
            n_target=yd.shape[0],
            seed=seed,
        )
    disp = summarise_displacements(xd, delta, spec.support_tol, y=yd)
    return MapFit(seconds=seconds, **_calls(x, y, disp, null, spec))


def _calls(
    x: CellData, y: CellData, disp: DisplacementSummary, null: np.ndarray | None, spec: FitSpec
) -> dict[str, object]:
    """The gene calls of a map tested against null maps (or selected by support).

    With null scores, Benjamini–Hochberg alone selects: a support filter after it would void its
    guarantee, and a response confined to a small cell type moves few cells. Without, a gene is
    selected when it moves in at least ``spec.min_support`` of the source cells.
    """
    if null is not None:
        # gene_scores averages |Δ| over cells: the row of mean |Δ| gives the same scores
        p_value = empirical_pvalues(gene_scores(disp.mean_abs[None, :], x.std(0)), null)
        adj_p_value = benjamini_hochberg(p_value)
        selected = adj_p_value <= call_level(spec.fdr)
    else:
        p_value = adj_p_value = None
        selected = select_by_support(disp.support, spec.min_support)
    return {
        "displacements": disp,
        "p_value": p_value,
        "adj_p_value": adj_p_value,
        "selected": selected,
        "null_scores": null,
        "null_design": _null_design(spec, x.shape[0], y.shape[0]),
    }


def _with_cell_responses(fit: MapFit, x: CellData, y: CellData) -> MapFit:
    """Add what needs the cells of the selected genes, read once: the target cells' response scores.

    A target cell's score is the mean score of its nearest transported source cells in the (at
    most :data:`MAX_RESPONSE_GENES`) most moved selected genes, among the source cells of its own
    state for a map with states. A map without its own responder share (all but the
    state-conditional one) gets it here, from the same columns.
    """
    disp = fit.displacements
    cols = np.flatnonzero(fit.selected)
    x_sel, y_sel = x.columns(cols), y.columns(cols)
    near = np.argsort(-disp.mean_abs[cols], kind="stable")[:MAX_RESPONSE_GENES]
    tx_near = x_sel[:, near] + disp.kept[:, cols[near]].toarray()
    added = {}
    if fit.responder_fraction is None:
        added = {
            "responder_fraction": responder_fraction(x_sel, y_sel),
            "responder_fraction_se": responder_fraction_se(x_sel, y_sel),
        }
    scores = target_response(
        tx_near,
        disp.response,
        y_sel[:, near],
        scale=x_sel[:, near].std(0),
        source_groups=fit.source_states,
        target_groups=fit.target_states,
    )
    return replace(fit, target_response=scores, **added)


def _null_design(spec: FitSpec, n_source: int, n_target: int) -> str:
    """``"matched"`` or ``"halves"`` (:func:`~scsparseot.core.null_split_sizes`) with null fits, else ``"none"``."""
    if spec.fdr is None:
        return "none"
    return "matched" if null_split_sizes(n_source, n_target)[2] else "halves"


def _null_row(fit: FitResult, a: CellData) -> np.ndarray:
    """Mean ``|Δ|`` of the cells ``a`` as one row: all that a null gene score averages over cells.

    ``null_scores`` scores ``np.abs(Δ).mean(0)``, which this row gives unchanged; the displacements
    are streamed over blocks of cells instead of being held as one dense matrix.
    """
    return summarise_displacements(a, fit.map, fit.map.support_tol).mean_abs[None, :]
