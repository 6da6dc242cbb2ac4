"""``tl.sparse_ot``: validate, extract arrays once, fit one map per target, write results once."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _schema
from .._docs import doc_adata, doc_params
from .._types import MethodName
from .._validation import (
    check_adata,
    check_choice,
    check_finite,
    check_genes,
    check_groups,
    check_int,
    check_layer,
    check_options,
    warn_data_issues,
)
from ..core import (
    AnnealConfig,
    TrainConfig,
    benjamini_hochberg,
    empirical_pvalues,
    fit_conditional,
    fit_map,
    gene_scores,
    named_seed,
    null_scores,
    resolve_device,
    responder_fraction,
    select_by_support,
    selection_frequency,
    summarise_displacements,
    target_response,
)
from ..core.conditional import STATE_LAM, STATE_TRAIN
from ..core.trainer import default_support_tol
from . import _checkpoint
from ._context import fitting, records_warnings
from ._data import group_cells

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterator, Sequence
    from concurrent.futures import Executor

    import pandas as pd
    from anndata import AnnData

    from .._types import DeviceName, PenaltyName
    from ..core import CellData, ConditionalMap, DisplacementSummary, FitResult, Penalty, SparseOTMap

logger = logging.getLogger(__name__)

__all__ = ["sparse_ot"]

#: a target cell's response is read from its neighbours in at most this many selected genes
MAX_RESPONSE_GENES = 50


@dataclass(frozen=True)
class FitSpec:
    """What every target's fit shares (picklable: sent to executor workers)."""

    penalty: Any
    lam: float | str
    max_genes: float | None
    config: TrainConfig
    anneal: AnnealConfig | None
    support_tol: np.ndarray
    device: str
    n_runs: int = 0
    min_support: float = 0.1
    method: str = "sparse_icnn"
    fdr: float | None = 0.05
    n_null: int = 3
    num_threads: int | None = None


@dataclass(frozen=True)
class TargetFit:
    """What a target's task returns: displacements of the source cells and how they were found.

    ``displacements`` holds the sparsified displacements and per-gene summaries, computed block by
    block over the source cells, so no dense ``n_cells × n_genes`` matrix crosses the executor.
    """

    displacements: DisplacementSummary
    support_tol: np.ndarray
    lam: float
    seconds: float
    n_iters: int = 0
    converged: bool = True
    diverged: bool = False
    reason: str = "closed_form"
    history: dict[str, np.ndarray] = field(default_factory=dict)
    moves: dict[str, np.ndarray] = field(default_factory=dict)
    map: SparseOTMap | ConditionalMap | None = None
    selection_frequency: np.ndarray | None = None
    null_scores: np.ndarray | None = None
    p_value: np.ndarray | None = None
    responder_fraction: float | None = None
    source_states: np.ndarray | None = None
    target_states: np.ndarray | None = None


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
    return baselines.rgd_map(x, y, max_dim=spec.max_genes, seed=seed)


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


def _torch_num_threads() -> int:
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
                xd, lambda a, b, s: _baseline_map(a, b, spec, s) - a, n_null=spec.n_null, seed=seed
            )
        return TargetFit(
            displacements=summarise_displacements(xd, delta, spec.support_tol, y=yd),
            support_tol=spec.support_tol,
            lam=float("nan"),
            seconds=seconds,
            null_scores=null,
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
            x, lambda a, b, s: _null_row(_fit(a, b, fixed, s, genes), a), n_null=spec.n_null, seed=seed
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
    )


def _fit_conditional(x: np.ndarray, y: np.ndarray, spec: FitSpec, seed: int, genes: list[str]) -> TargetFit:
    """The state-conditional map: its gene p-values come from its own tests (no null fits)."""
    fit = fit_conditional(
        x,
        y,
        fdr=spec.fdr if spec.fdr is not None else 0.05,
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
        source_states=fit.source_states,
        target_states=fit.target_states,
    )


def _null_row(fit: FitResult, a: CellData) -> np.ndarray:
    """Mean ``|Δ|`` of the cells ``a`` as one row: all that a null gene score averages over cells.

    ``null_scores`` scores ``np.abs(Δ).mean(0)``, which this row gives unchanged; the displacements
    are streamed over blocks of cells instead of being held as one dense matrix.
    """
    return summarise_displacements(a, fit.map, fit.map.support_tol).mean_abs[None, :]


@records_warnings
@doc_params(doc_adata=doc_adata)
def sparse_ot(
    adata: AnnData,
    groupby: str = "drug",
    source: str = "control",
    target: str | Sequence[str] | None = None,
    *,
    layer: str | None = None,
    genes: Sequence[str] | np.ndarray | pd.Index | None = None,
    method: MethodName | None = None,
    penalty: PenaltyName | Penalty = "stvs",
    lam: float | Literal["auto"] | None = None,
    max_genes: float | None = None,
    support_tol: float | None = None,
    min_support: float = 0.1,
    fdr: float | None = 0.05,
    n_null: int = 3,
    n_runs: int = 0,
    n_iters: int | None = None,
    batch_size: int | None = None,
    config: TrainConfig | None = None,
    anneal: AnnealConfig | None = None,
    device: DeviceName | str = "auto",
    seed: int = 0,
    executor: Executor | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    store_maps: bool = True,
    progress: bool = True,
    key_added: str = "sparse_ot",
    copy: bool = False,
) -> AnnData | None:
    """Fit sparse optimal-transport maps from source (control) cells to each target (treated) group.

    For every target group, an input-convex neural network map ``T`` from the source cells to the
    target cells is trained with a sparsity penalty on the displacement ``T(x) − x`` (DisNOT/SICNN).
    Genes whose displacement is non-zero in a share of cells are the genes the perturbation moves.
    By default the map is conditional on each cell's state (its cell type, say): it moves the
    genes that respond in that state only, so it also tells which cells respond.

    Parameters
    ----------
    {doc_adata}
    groupby
        Column of ``adata.obs`` with the group (drug) of each cell.
    source
        Label of the source (control) cells in ``obs[groupby]``.
    target
        One label, a list of labels, or ``None`` for every group other than ``source``.
    layer
        Layer to read instead of ``adata.X`` (for example log-normalised expression). Dense,
        sparse (CSR/CSC) and backed data are all read without densifying the whole matrix:
        a sparse matrix is kept sparse and densified one mini-batch of cells at a time, and with
        ``anndata.read_h5ad(path, backed="r")`` the cells of ``adata.X`` are read from the file
        when the fit needs them (statistics are streamed over blocks of cells). The baseline
        methods other than ``"sparse_icnn"`` need all cells of a group in memory.
    genes
        Gene names (or a boolean mask over ``var_names``) to fit; ``None`` fits all genes. Other
        genes get zero displacement.
    method
        ``None`` (default): ``"conditional"``, or ``"sparse_icnn"`` when ``lam`` or ``max_genes``
        is given. ``"conditional"``: the state-conditional map
        (:func:`scsparseot.core.fit_conditional`): cells are grouped into states by genes the drug
        does not move, genes are called by their own tests (Welch, within states and overall,
        Benjamini–Hochberg at ``fdr``; ``n_null`` is not used), and in each state that responds an
        ICNN on the state's moved genes is trained from a closed-form start (``n_iters=0`` keeps
        the start). It finds which cells respond (one cell type, or a share of cells that
        switched state) and takes seconds per target. ``"sparse_icnn"``: one ICNN on all genes,
        started at the gene-wise Gaussian map, with its λ search (``lam="auto"``, ``max_genes``)
        and null fits for ``fdr``. Baselines, written in the same schema so that they can be
        compared side by side: ``"exact"`` (exact OT, POT's ``ot.emd`` barycentric map),
        ``"translation"`` (mean shift, soft-thresholded at ``support_tol``), ``"elastic"``
        (entropic elastic map, Cuturi et al. 2023) and ``"rgd"`` (gradient descent on the
        exact-OT displacements under a dimension limit; needs ``max_genes``). The plain ICNN map
        is ``method="sparse_icnn", lam=0``. Baselines store no map and no training history.
    penalty
        Sparsity penalty on the displacement: ``"stvs"`` (default), ``"l1"``, ``"l0"`` (smoothed ℓ0)
        or ``"k_overlap"``, or a :class:`~scsparseot.core.Penalty` instance. Penalty parameters are
        in units of the data divided by its typical gene standard deviation.
    lam
        Penalty strength λ ≥ 0 (a mean over cells, so it means the same at any number of cells);
        ``None``: 0.5 for each state network of ``"conditional"``, ``"auto"`` for
        ``"sparse_icnn"``. With ``"sparse_icnn"``, ``0`` gives the plain ICNN map and ``"auto"``
        tunes λ per target by simulated annealing of ``Eval = α·Spa + (1 − α)·Err`` (DisNOT Alg.
        1; see ``anneal``) among maps whose error stays within 10% of the initial map's, best for
        a few dozen to a few hundred genes and effects of about a gene standard deviation or more;
        for smaller effects (typical of sc-RNA data) it selects too few genes.
    max_genes
        Limit on the average number of genes moved per cell (DisNOT Alg. 2, for many genes): λ is
        raised until the limit holds, then lowered while it holds to make the map as faithful
        as the limit allows. Starts from ``lam`` (1 when ``lam="auto"``).
    support_tol
        Absolute tolerance (data units) under which a displacement counts as zero. ``None`` uses,
        per gene, 0.1 × the gene's standard deviation in the source cells.
    min_support
        With the sparse ICNN, a gene is *selected* for a target only if it moves in at least this
        share of source cells (the conditional map selects by its tests alone).
    fdr
        False discovery rate of the selection. With ``"conditional"``, the level of its own tests'
        Benjamini–Hochberg selection (``None`` uses 0.05). Otherwise each gene's score (mean
        absolute displacement divided by its control standard deviation) is compared with the scores of ``n_null`` maps fitted between
        random halves of the control cells (same method and λ), pooled over genes, giving
        empirical p-values; a gene is selected when its Benjamini–Hochberg adjusted p-value is at
        most ``fdr`` (and its support at least ``min_support``). ``None`` skips the null fits and
        selects on ``min_support`` alone.
    n_null
        Number of control-vs-control null maps per target (used when ``fdr`` is set).
    n_runs
        Stability: number of refits per target, each on a random 80% of the source and target
        cells at the main fit's λ. Each gene's *selection frequency* (share of refits selecting it)
        goes into the gene table; genes selected in most refits are the ones to trust.
        ``0`` (default) skips the refits.
    n_iters
        Maximum training iterations per target (per state network with ``"conditional"``) with a
        fixed λ (overrides ``config.n_iters``); training stops earlier once the map has converged;
        ``0`` keeps the start map. λ searches set their own budget
        (``anneal``).
    batch_size
        Cells per training batch (overrides ``config.batch_size``).
    config
        Full trainer settings, :class:`~scsparseot.core.TrainConfig` (default for
        ``"conditional"``: :data:`scsparseot.core.conditional.STATE_TRAIN`, small networks).
    anneal
        Settings of the λ searches, :class:`~scsparseot.core.AnnealConfig` (``alpha``, iteration
        counts, temperature schedule).
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    seed
        Random seed. Each target gets its own stream derived from ``seed`` and the target's name,
        so a target's result does not depend on which other targets are fitted, in which order,
        or on the executor.
    executor
        A :class:`concurrent.futures.Executor` that fits the targets in parallel, one task per
        target; ``None`` fits them one after the other in this process. Anything with
        ``submit(fn, *args)`` returning futures with ``result()`` works:
        ``concurrent.futures.ProcessPoolExecutor`` (use a ``"spawn"`` context with CUDA), a Dask
        cluster through ``dask.distributed.Client(...).get_executor()``, or Ray through a small
        :class:`~concurrent.futures.Executor` whose ``submit`` returns
        ``ray.remote(num_gpus=1)(fn).remote(*args).future()``. Each task receives only arrays
        (dense, CSR, or a reader that reopens a backed ``.h5ad`` file by its path, which every
        worker must then be able to read), the settings and its seed; no AnnData crosses the
        boundary. With ``device="auto"`` a worker uses the GPU it sees, so give each worker one
        GPU (``CUDA_VISIBLE_DEVICES``, Dask worker resources, Ray's ``num_gpus``). Results do not
        depend on the executor: each target has its own seed, and workers use as many torch
        threads as this process.
    checkpoint_dir
        Folder where each finished target is saved. Rerunning the same call (same data,
        settings and seed) after an interruption loads the finished targets instead of refitting
        them; only the others are fitted.
    store_maps
        Keep each fitted map's weights in ``adata.uns[key_added]["maps"]`` (see
        :func:`scsparseot.get.map`).
    progress
        Show a progress bar per target.
    key_added
        Prefix of every field written.
    copy
        Return a modified copy instead of writing into ``adata`` (not for backed AnnData, whose
        results are written into ``obs``, ``varm``, ``layers`` and ``uns`` in memory).

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Sets, with ``key = key_added``:

    ``adata.layers[f"{{key}}_displacement"]`` (one target) or ``adata.layers[f"{{key}}_displacement_{{target}}"]``
        CSR float32 displacements ``T(x) − x`` of the source cells (other rows empty), entries with
        ``|Δ| ≤ support_tol`` set to zero.
    ``adata.varm[f"{{key}}_support"]``
        Share of source cells in which each gene moves, one column per target.
    ``adata.obs[f"{{key}}_response_{{target}}"]``
        Per-cell response score, to see which cells a drug moves and how far: for each source
        cell the norm of its (sparsified) displacement; for each cell of the target group the
        mean score of the 15 transported source cells nearest to it in the selected genes (the 50
        most moved ones when more are selected)
        (:func:`scsparseot.core.target_response`); ``NaN`` for other cells. Plot it with
        :func:`scsparseot.pl.response` or read it with :func:`scsparseot.get.response`.
    ``adata.uns[key]``
        ``params``, ``summary`` (per target), ``genes`` (per target × gene; see
        :func:`scsparseot.get.perturbed_genes`), ``history`` and ``moves`` (training traces) and
        ``maps`` (fitted weights) and ``warnings`` (the messages of the warnings this call raised,
        for reports; :func:`scsparseot.get.fit_warnings`).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=200, n_genes=40, n_perturbed=4, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, groupby="drug", source="control", lam=1.0, n_iters=200, progress=False)
    >>> sso.get.perturbed_genes(adata, target="drug_1").head(4)["gene"].tolist()  # doctest: +SKIP
    """
    # ---- validate everything before touching anything
    check_adata(adata)
    if copy and adata.isbacked:
        msg = (
            "copy=True cannot copy an AnnData opened in backed mode (its X stays on disk). Pass copy=False "
            "to add the results to it and save them with adata.write_h5ad(new_path), or load it with "
            "adata.to_memory() first."
        )
        raise ValueError(msg)
    if method is None:  # λ settings belong to the gene-wise ICNN's search; without them, the conditional map
        method = "sparse_icnn" if (lam is not None or max_genes is not None) else "conditional"
    if lam is None:
        lam = STATE_LAM if method == "conditional" else "auto"
    if method == "conditional" and (lam == "auto" or max_genes is not None):
        msg = (
            "method='conditional' takes a fixed lam (the penalty strength of each state's map, default "
            f"{STATE_LAM}); lam='auto' and max_genes= search λ for method='sparse_icnn'."
        )
        raise ValueError(msg)
    check_options(
        lam=lam,
        penalty=penalty,
        support_tol=support_tol,
        key_added=key_added,
        n_iters=n_iters,
        batch_size=batch_size,
        seed=seed,
    )
    if not (isinstance(min_support, int | float) and 0 <= min_support <= 1):
        msg = f"min_support must be a share between 0 and 1, got {min_support!r}."
        raise ValueError(msg)
    check_choice("method", method, MethodName)
    if method == "rgd" and max_genes is None:
        msg = "method='rgd' needs max_genes= (the limit on moved genes per cell)."
        raise ValueError(msg)
    if method != "sparse_icnn" and n_runs:
        msg = f"n_runs refits are available for method='sparse_icnn' only, not {method!r}."
        raise ValueError(msg)
    if fdr is not None and (isinstance(fdr, bool) or not isinstance(fdr, int | float) or not 0 < fdr <= 1):
        msg = f"fdr must be None or a rate in (0, 1], got {fdr!r}."
        raise ValueError(msg)
    check_int("n_null", n_null, 1, expected="a positive integer")
    check_int("n_runs", n_runs, 0, expected="a non-negative integer (number of stability refits)")
    source_rows, target_rows = check_groups(adata, groupby, source, target)
    bad = [t for t in target_rows if "/" in t]
    if bad:
        msg = f"Group labels {bad} contain '/', which AnnData cannot store as a key; rename them, e.g. adata.obs[{groupby!r}] = adata.obs[{groupby!r}].str.replace('/', '_')."
        raise ValueError(msg)
    matrix = check_layer(adata, layer)
    gene_idx = check_genes(adata, genes)
    dev = resolve_device(device)
    if config is not None and not isinstance(config, TrainConfig):
        msg = f"config must be a scsparseot.core.TrainConfig, got {type(config).__name__}."
        raise TypeError(msg)
    if anneal is not None and not isinstance(anneal, AnnealConfig):
        msg = f"anneal must be a scsparseot.core.AnnealConfig, got {type(anneal).__name__}."
        raise TypeError(msg)
    if max_genes is not None and (
        isinstance(max_genes, bool)
        or not isinstance(max_genes, int | float | np.number)
        or not 0 < max_genes < gene_idx.size
    ):
        msg = f"max_genes must be a number between 0 and the number of fitted genes ({gene_idx.size}), exclusive; got {max_genes!r}."
        raise ValueError(msg)
    config = config or (STATE_TRAIN if method == "conditional" else TrainConfig())
    overrides = {k: v for k, v in (("n_iters", n_iters), ("batch_size", batch_size)) if v is not None}
    if overrides:
        config = replace(config, **overrides)

    # ---- extract each group's rows once: dense float32, CSR, or a reader of a backed file
    x = group_cells(adata, matrix, source_rows, gene_idx, layer)
    check_finite(f"source ({source!r})", x)
    ys = {}
    for t, rows in target_rows.items():
        ys[t] = group_cells(adata, matrix, rows, gene_idx, layer)
        check_finite(f"target ({t!r})", ys[t])
    gene_names = adata.var_names.to_numpy()[gene_idx].astype(str).tolist()
    warn_data_issues(x, gene_names)
    tol = (
        default_support_tol(x)
        if support_tol is None
        else np.full(x.shape[1], float(support_tol), dtype=np.float32)
    )
    spec = FitSpec(
        penalty=penalty,
        lam=lam if lam == "auto" else float(lam),
        max_genes=None if max_genes is None else float(max_genes),
        config=config,
        anneal=anneal,
        support_tol=tol,
        device=str(dev),
        n_runs=int(n_runs),
        min_support=float(min_support),
        method=method,
        fdr=None if fdr is None else float(fdr),
        n_null=int(n_null),
        num_threads=_torch_num_threads(),
    )
    seeds = {t: named_seed(seed, t) for t in target_rows}

    # ---- fit
    fits = _run_fits(
        x, ys, spec, seeds, gene_names, executor=executor, progress=progress, checkpoint_dir=checkpoint_dir
    )
    results = [
        _summarise(t, fits[t], x, ys[t], min_support=min_support, fdr=fdr, store_map=store_maps)
        for t in target_rows
    ]
    for res in results:
        if res.summary["diverged"]:
            warnings.warn(
                f"The fit for {res.target!r} diverged; lower the learning rate (config=TrainConfig(lr=...)) or scale the data (sc.pp.scale).",
                UserWarning,
                stacklevel=2,
            )

    # ---- write once
    params = {
        "groupby": groupby,
        "source": str(source),
        "targets": np.asarray(list(target_rows), dtype=object),
        "layer": layer,
        "genes": None if genes is None else np.asarray(gene_names, dtype=object),
        "method": method,
        "penalty": penalty if isinstance(penalty, str) else type(penalty).__name__,
        "penalty_params": {} if isinstance(penalty, str) else dataclasses.asdict(penalty),
        "lam": lam if lam == "auto" else float(lam),
        "max_genes": None if max_genes is None else float(max_genes),
        "anneal": (anneal or AnnealConfig()).to_dict() if (lam == "auto" or max_genes is not None) else None,
        "support_tol": None if support_tol is None else float(support_tol),
        "min_support": float(min_support),
        "n_runs": int(n_runs),
        "fdr": None if fdr is None else float(fdr),
        "n_null": int(n_null),
        "n_iters": int(config.n_iters),
        "batch_size": None if config.batch_size is None else int(config.batch_size),
        "config": {k: np.asarray(v) if isinstance(v, list) else v for k, v in config.to_dict().items()},
        "device": str(dev),
        "seed": int(seed),
        "store_maps": bool(store_maps),
        "checkpoint_dir": None if checkpoint_dir is None else str(checkpoint_dir),
        "key_added": key_added,
    }
    out = adata.copy() if copy else adata
    written = _schema.write_results(
        out,
        key_added,
        params=params,
        results=results,
        source_rows=source_rows,
        target_rows=target_rows,
        gene_idx=gene_idx,
    )
    logger.info("fitted %d sparse OT map(s); added %s", len(results), ", ".join(written))
    return out if copy else None


def _run_fits(
    x: CellData,
    ys: dict[str, CellData],
    spec: FitSpec,
    seeds: dict[str, int],
    genes: list[str],
    *,
    executor: Executor | None,
    progress: bool,
    checkpoint_dir: str | os.PathLike[str] | None,
) -> dict[str, TargetFit]:
    from tqdm.auto import tqdm

    out: dict[str, TargetFit] = {}
    keys = {}
    if checkpoint_dir is not None:
        for t, y in ys.items():
            keys[t] = _checkpoint.fingerprint(x, y, spec, seeds[t], genes)
            done = _checkpoint.load(checkpoint_dir, t, keys[t])
            if done is not None:
                logger.info("resumed %r from its checkpoint", t)
                out[t] = done
    todo = {t: y for t, y in ys.items() if t not in out}

    def finished(t: str, fit: TargetFit) -> None:
        out[t] = fit
        if checkpoint_dir is not None:
            _checkpoint.save(checkpoint_dir, t, fit, keys[t])

    if executor is not None:
        futures = {t: executor.submit(fit_target, x, y, spec, seeds[t], genes) for t, y in todo.items()}
        for t in tqdm(futures, desc="targets", disable=not progress):
            with fitting(t):
                finished(t, futures[t].result())
            logger.info("fitted %r (%s)", t, out[t].reason)
        return {t: out[t] for t in ys}
    for t, y in todo.items():
        t0 = time.perf_counter()
        total = None if (spec.lam == "auto" or spec.max_genes is not None) else spec.config.n_iters
        with tqdm(
            total=total, desc=str(t), disable=not progress or spec.method != "sparse_icnn", leave=False
        ) as bar:

            def update(record: dict[str, float], bar: Any = bar) -> None:
                # a rejected λ move rolls the step counter back; the bar never goes backwards
                bar.update(max(0, int(record["step"]) - bar.n))
                bar.set_postfix(
                    lam=f"{record['lam']:.3g}", dim=f"{record['dim']:.1f}", err=f"{record['err']:.3g}"
                )

            with fitting(t):
                finished(t, fit_target(x, y, spec, seeds[t], genes, update))
        logger.info("fitted %r in %.1f s (%s)", t, time.perf_counter() - t0, out[t].reason)
    return {t: out[t] for t in ys}


def _summarise(
    target: str,
    tf: TargetFit,
    x: CellData,
    y: CellData,
    *,
    min_support: float,
    fdr: float | None,
    store_map: bool,
) -> _schema.TargetResult:
    disp = tf.displacements
    support = disp.support
    selected = select_by_support(support, min_support)
    if tf.p_value is not None:
        # the map's own tests: BH alone selects (a support filter after BH would void its guarantee,
        # and a response confined to a small cell type moves few cells)
        p_value = tf.p_value
        adj_p_value = benjamini_hochberg(p_value)
        selected = adj_p_value <= (0.05 if fdr is None else fdr)
    elif tf.null_scores is not None:
        # gene_scores averages |Δ| over cells: the row of mean |Δ| gives the same scores
        p_value = empirical_pvalues(gene_scores(disp.mean_abs[None, :], x.std(0)), tf.null_scores)
        adj_p_value = benjamini_hochberg(p_value)
        if fdr is not None:
            selected &= adj_p_value <= fdr
    else:
        p_value = adj_p_value = np.full(support.shape, np.nan)
    cols = np.flatnonzero(selected)
    x_sel, y_sel = x.columns(cols), y.columns(cols)
    # target cells are scored by their neighbours in the (at most 50) most moved selected genes
    near = np.argsort(-disp.mean_abs[cols], kind="stable")[:MAX_RESPONSE_GENES]
    tx_near = x_sel[:, near] + disp.kept[:, cols[near]].toarray()
    # a state-conditional map: a target cell's neighbours are the source cells of its own state
    groups = {"source_groups": tf.source_states, "target_groups": tf.target_states}
    summary = {
        "n_source": int(x.shape[0]),
        "n_target": int(y.shape[0]),
        "n_genes": int(x.shape[1]),
        "n_selected_genes": int(selected.sum()),
        "avg_dim": float(disp.avg_dim),
        "responder_fraction": responder_fraction(x_sel, y_sel)
        if tf.responder_fraction is None
        else tf.responder_fraction,
        "sliced_w": float(disp.sliced_w),
        "lam": float(tf.lam),
        "n_iters": int(tf.n_iters),
        "converged": bool(tf.converged),
        "diverged": bool(tf.diverged),
        "reason": tf.reason,
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
