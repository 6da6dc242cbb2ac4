"""One target's fit: the map (sparse ICNN, state-conditional or a baseline), its refits and its null fits."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from ..core import (
    fit_conditional,
    fit_map,
    null_scores,
    null_split_sizes,
    selection_frequency,
    summarise_displacements,
)
from ._spec import TargetFit, call_level

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy as np

    from ..core import CellData, FitResult
    from ._spec import FitSpec

__all__ = ["fit_target", "torch_num_threads"]


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
) -> TargetFit:
    """Fit one target (a top-level function so that process and cluster executors can run it).

    ``x`` and ``y`` are :class:`~scsparseot.core.CellData` (dense, CSR or read from a backed
    file); the neural fit reads them one mini-batch at a time. With ``spec.n_runs > 0``, refit ``n_runs`` times on random 80% subsamples at the main fit's
    final λ (no new λ search) and record how often each gene is selected. With ``spec.fdr``, fit
    ``spec.n_null`` control-vs-control maps (same method, the main fit's λ) for the null scores.
    With ``spec.num_threads``, torch uses that many intra-op threads for the fit (executor workers
    default to all cores, which changes float reductions and so the results).
    """
    with _torch_threads(spec.num_threads):
        return _fit_target(x, y, spec, seed, genes, callback)


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
) -> TargetFit:
    if spec.method == "conditional":
        return _fit_conditional(x.to_numpy(), y.to_numpy(), spec, seed, genes)
    if spec.method != "sparse_icnn":
        # the baselines need every cell at once (exact OT and the elastic map hold n × m matrices)
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
        return TargetFit(
            displacements=summarise_displacements(xd, delta, spec.support_tol, y=yd),
            support_tol=spec.support_tol,
            lam=float("nan"),
            seconds=seconds,
            null_scores=null,
            null_design=_null_design(spec, xd.shape[0], yd.shape[0]),
        )
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
    return TargetFit(
        displacements=summarise_displacements(x, main.map, main.map.support_tol, y=y),
        support_tol=main.map.support_tol,
        lam=main.lam,
        seconds=main.seconds,
        n_iters=main.n_iters,
        converged=main.converged,
        diverged=main.diverged,
        reason=main.reason,
        history=main.history,
        moves=main.moves,
        map=main.map,
        selection_frequency=freq,
        null_scores=null,
        null_design=_null_design(spec, x.shape[0], y.shape[0]),
    )


def _fit_conditional(x: np.ndarray, y: np.ndarray, spec: FitSpec, seed: int, genes: list[str]) -> TargetFit:
    """The state-conditional map: its gene p-values come from its own tests (no null fits)."""
    fit = fit_conditional(
        x,
        y,
        fdr=call_level(spec.fdr),
        support_tol=spec.support_tol,
        penalty=spec.penalty,
        lam=float(spec.lam),
        train_config=spec.config,
        device=spec.device,
        seed=seed,
        genes=genes,
    )
    states = fit.info["trained_states"]
    converged = all(s["converged"] for s in states)
    diverged = any(s["diverged"] for s in states)
    return TargetFit(
        displacements=summarise_displacements(x, fit.map.displacement(x), spec.support_tol, y=y),
        support_tol=spec.support_tol,
        lam=float(spec.lam),
        seconds=fit.seconds,
        n_iters=sum(s["n_iters"] for s in states),
        converged=converged,
        diverged=diverged,
        reason="closed_form"
        if not states
        else ("diverged" if diverged else ("converged" if converged else "max_iters")),
        map=fit.map,
        p_value=fit.p_value,
        responder_fraction=fit.responder_fraction,
        responder_fraction_se=fit.responder_fraction_se,
        null_design="tests",
        source_states=fit.source_states,
        target_states=fit.target_states,
    )


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
