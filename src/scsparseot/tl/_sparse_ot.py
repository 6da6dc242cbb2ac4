"""``tl.sparse_ot``: validate, extract arrays once, fit one map per target, write results once.

The steps live in their own modules: the checks in :mod:`._args`, one target's fit in
:mod:`._fit_target`, the run over targets (executor, checkpoints, progress) in :mod:`._runner` and
each target's results in :mod:`._results`.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Literal

from .. import _schema
from .._docs import doc_adata, doc_params
from .._validation import check_finite, warn_data_issues
from ..core import named_seed
from ._args import check_sparse_ot_args
from ._context import records_warnings
from ._data import group_cells
from ._fit_target import fit_target, torch_num_threads
from ._results import MAX_RESPONSE_GENES, target_result
from ._runner import run_fits
from ._spec import FitSpec, TargetFit

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from concurrent.futures import Executor

    import numpy as np
    import pandas as pd
    from anndata import AnnData

    from .._types import DeviceName, MethodName, PenaltyName
    from ..core import AnnealConfig, Penalty, TrainConfig

logger = logging.getLogger(__name__)

# FitSpec, TargetFit, fit_target and MAX_RESPONSE_GENES are re-exported from where they are defined;
# sparse_ot reads fit_target from this module at each call, so replacing it here takes effect
__all__ = ["MAX_RESPONSE_GENES", "FitSpec", "TargetFit", "fit_target", "sparse_ot"]


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
        is ``method="sparse_icnn", lam=0``. Baselines store no map and no training history, and
        raise a ``ValueError`` when given an argument they do not use (``penalty``, ``lam``,
        ``max_genes`` but for ``"rgd"``, ``n_runs``, ``n_iters``, ``batch_size``, ``config``,
        ``anneal``); ``params`` records ``None`` for each argument the method does not use.
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
        ``"conditional"``: ``scsparseot.core.conditional.STATE_TRAIN``, small networks).
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
    args = check_sparse_ot_args(
        adata,
        groupby=groupby,
        source=source,
        target=target,
        layer=layer,
        genes=genes,
        method=method,
        penalty=penalty,
        lam=lam,
        max_genes=max_genes,
        support_tol=support_tol,
        min_support=min_support,
        fdr=fdr,
        n_null=n_null,
        n_runs=n_runs,
        n_iters=n_iters,
        batch_size=batch_size,
        config=config,
        anneal=anneal,
        device=device,
        seed=seed,
        store_maps=store_maps,
        checkpoint_dir=checkpoint_dir,
        key_added=key_added,
        copy=copy,
    )

    # ---- extract each group's rows once: dense float32, CSR, or a reader of a backed file
    x = group_cells(adata, args.matrix, args.source_rows, args.gene_idx, layer)
    check_finite(f"source ({source!r})", x)
    ys = {}
    for t, rows in args.target_rows.items():
        ys[t] = group_cells(adata, args.matrix, rows, args.gene_idx, layer)
        check_finite(f"target ({t!r})", ys[t])
    gene_names = adata.var_names.to_numpy()[args.gene_idx].astype(str).tolist()
    warn_data_issues(x, gene_names)
    spec = args.fit_spec(x, torch_num_threads())
    seeds = {t: named_seed(seed, t) for t in args.target_rows}

    # ---- fit
    fits = run_fits(
        x,
        ys,
        spec,
        seeds,
        gene_names,
        fit=fit_target,
        executor=executor,
        progress=progress,
        checkpoint_dir=checkpoint_dir,
    )
    results = [
        target_result(t, fits[t], x, ys[t], min_support=min_support, fdr=fdr, store_map=store_maps)
        for t in args.target_rows
    ]
    for res in results:
        if res.summary["diverged"]:
            warnings.warn(
                f"The fit for {res.target!r} diverged; lower the learning rate (config=TrainConfig(lr=...)) or scale the data (sc.pp.scale).",
                UserWarning,
                stacklevel=2,
            )

    # ---- write once
    out = adata.copy() if copy else adata
    written = _schema.write_results(
        out,
        key_added,
        params=args.params(gene_names),
        results=results,
        source_rows=args.source_rows,
        target_rows=args.target_rows,
        gene_idx=args.gene_idx,
    )
    logger.info("fitted %d sparse OT map(s); added %s", len(results), ", ".join(written))
    return out if copy else None
