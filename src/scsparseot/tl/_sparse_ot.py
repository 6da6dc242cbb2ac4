"""``tl.sparse_ot``: validate, extract arrays once, fit one map per target, write results once.

The steps live in their own modules: the checks in :mod:`._args`, reading each group's cells in
:mod:`._data`, one target's fit in :mod:`._fit_target`, the run over targets (seeds, executor,
checkpoints, progress) in :mod:`._runner` and the targets' results and their one write in
:mod:`._results`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from .._docs import doc_adata, doc_params
from .._foldchange import log1p_base
from .._validation import warn_data_issues
from ._args import check_sparse_ot_args
from ._context import records_warnings
from ._data import read_groups
from ._fit_target import MAX_RESPONSE_GENES, fit_target
from ._results import target_results, write_target_results
from ._runner import run_targets
from ._spec import FitSpec

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from concurrent.futures import Executor

    import numpy as np
    import pandas as pd
    from anndata import AnnData

    from .._types import DeviceName, MethodName, PenaltyName
    from ..core import AnnealConfig, ConditionalConfig, Penalty, TrainConfig

logger = logging.getLogger(__name__)

# FitSpec, fit_target and MAX_RESPONSE_GENES are re-exported from where they are defined;
# sparse_ot reads fit_target from this module at each call, so replacing it here takes effect
__all__ = ["MAX_RESPONSE_GENES", "FitSpec", "fit_target", "sparse_ot"]


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
    config: TrainConfig | ConditionalConfig | None = None,
    anneal: AnnealConfig | None = None,
    device: DeviceName | str = "auto",
    seed: int = 0,
    executor: Executor | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    store_maps: bool = True,
    progress: bool = True,
    key_added: str = "sparse_ot",
    copy: bool = False,
    state_key: str | None = None,
    replicate_key: str | None = None,
) -> AnnData | None:
    """Fit sparse optimal-transport maps from source (control) cells to each target (treated) group.

    Parameters
    ----------
    {doc_adata}
    groupby, source
        Column of ``adata.obs`` with each cell's group (drug), and the source (control) label in it.
    target
        One label, a list of labels, or ``None`` for every group other than ``source``.
    layer
        Layer to read instead of ``adata.X``; sparse and backed data are read in blocks (:doc:`/scaling`).
    genes
        Gene names, or a boolean mask over ``var_names``, to fit (``None``: all); other genes do not move.
    method
        ``"conditional"``, ``"sparse_icnn"`` or a baseline (``"exact"``, ``"translation"``, ``"elastic"``, ``"rgd"``).
        ``None``: ``"sparse_icnn"`` if ``lam`` or ``max_genes`` is set, else the state-conditional map (:doc:`/method`).
        Each method raises a ``ValueError`` for an argument it does not use, naming the methods that do.
    penalty
        ``"stvs"``, ``"l1"``, ``"l0"`` (smoothed ℓ0), ``"k_overlap"`` or a :class:`~scsparseot.core.Penalty`.
    lam
        Penalty strength λ ≥ 0 or ``"auto"`` (:ref:`choosing-lambda`); ``None``: ``"auto"``, 0.5 if ``"conditional"``.
    max_genes
        Limit on the mean number of genes moved per cell; λ is searched from ``lam`` (1 for ``"auto"``).
    support_tol, min_support
        A displacement counts when ``|Δ| > support_tol`` (data units; ``None``: 0.1 × the gene's source SD);
        without p-values (``fdr=None``), a selected gene moves in at least a ``min_support`` share of source cells
        (not ``"conditional"``, which selects by its own tests).
    fdr, n_null
        False discovery rate of the gene calls, in (0, 1), and null maps per target (:ref:`calibrated-selection`).
        ``fdr=None`` skips the null fits; ``"conditional"`` tests genes itself (no ``n_null``; ``None``: level 0.05).
    n_runs
        Stability refits per target on random 80% subsamples (``"sparse_icnn"``); ``0`` skips them.
    n_iters, batch_size
        Override the trainer's ``n_iters`` (fixed-λ iterations, or each state network's; ``0`` keeps the start
        map or the closed form) and ``batch_size``.
    config, anneal
        The method's configuration: a :class:`~scsparseot.core.ConditionalConfig` (states, tests, and the state
        networks' :class:`~scsparseot.core.TrainConfig` as ``train``; a ``TrainConfig`` alone sets only those)
        for ``"conditional"``, a :class:`~scsparseot.core.TrainConfig` for ``"sparse_icnn"``; and the
        :class:`~scsparseot.core.AnnealConfig` of the λ searches (``"sparse_icnn"``).
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    seed
        Random seed; each target draws its own stream from ``seed`` and its name.
    executor
        A :class:`concurrent.futures.Executor` fitting one task per target (:ref:`executors`), or ``None``.
    checkpoint_dir
        Folder where each finished target is saved; rerunning the same call loads them instead of refitting.
    store_maps
        Keep each fitted map's weights in ``uns[key_added]["maps"]`` (see :func:`scsparseot.get.map`).
    progress
        Show a progress bar per target (over the training steps; the conditional map's over its states).
    key_added
        Prefix of every field written.
    copy
        Return a modified copy instead of writing into ``adata`` (not for backed AnnData).
    state_key
        Column of ``adata.obs`` with each cell's state (e.g. annotated cell types), used as the map's states: genes
        are tested and moved per label; a label with too few cells on a side is reported, not tested (``"conditional"``).
        ``None``: the map finds the states of the source cells itself.
    replicate_key
        Column of ``adata.obs`` with each cell's replicate (well, plate, lane, sample, donor): the gene calls are then
        made across replicates (pseudobulk per replicate × state, a moderated t; blocked on labels found on both sides),
        not across cells (:ref:`replicates`; ``"conditional"``).

    Returns
    -------
    ``None``, or the modified copy if ``copy=True``. Sets, with ``key = key_added``:

    ``adata.layers[f"{{key}}_displacement_{{target}}"]``
        One layer per target (before 0.1.0, a single target's was ``f"{{key}}_displacement"``, still read):
        CSR float32 ``T(x) − x`` of the source cells (other rows empty), zero where ``|Δ| ≤ support_tol``.
    ``adata.varm[f"{{key}}_support"]``
        Share of source cells in which each gene moves, one column per target.
    ``adata.obs[f"{{key}}_response_{{target}}"]``
        Per-cell response score (:ref:`which-cells-respond`, :func:`scsparseot.get.response`), ``NaN`` elsewhere.
    ``adata.obs[f"{{key}}_state"]`` (``state_key``) or ``adata.obs[f"{{key}}_state_{{target}}"]`` (``"conditional"``)
        The state of every source and target cell (categorical, ``NaN`` elsewhere); named in ``uns[key]["state_columns"]``.
    ``adata.uns[key]``
        ``params``, ``summary``, ``genes``, ``history``, ``moves``, ``maps``, ``warnings``, and for ``"conditional"``
        ``states`` (gene × state tests, :func:`scsparseot.get.state_genes`), ``composition``
        (:func:`scsparseot.get.composition`) and ``state_columns`` (see ``scsparseot.get``).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=200, n_genes=40, n_perturbed=4, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, groupby="drug", source="control", n_iters=0, progress=False)  # the default
    >>> sso.get.summary(adata)[["target", "n_selected_genes", "null"]]
       target  n_selected_genes   null
    0  drug_1                 5  tests
    1  drug_2                 4  tests

    The default's settings, e.g. fewer states, go in a :class:`~scsparseot.core.ConditionalConfig`:

    >>> from scsparseot.core import ConditionalConfig
    >>> sso.tl.sparse_ot(adata, config=ConditionalConfig(n_states=2), n_iters=0, progress=False)
    >>> int(sso.get.params(adata)["conditional"]["n_states"])
    2

    The gene-wise sparse ICNN with a fixed λ:

    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=200, progress=False, key_added="icnn")
    """
    args = check_sparse_ot_args(  # validate everything before reading or writing anything
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
        state_key=state_key,
        replicate_key=replicate_key,
    )
    # each group's rows are read once: dense float32, CSR, or a reader of a backed file
    x, ys, gene_names = read_groups(adata, args)
    warn_data_issues(x, gene_names)
    fits = run_targets(x, ys, args, gene_names, fit=fit_target, executor=executor, progress=progress)
    results = target_results(fits, x, ys, args, log_base=log1p_base(adata))
    out = adata.copy() if copy else adata  # write once
    written = write_target_results(out, args, results, gene_names)
    logger.info("fitted %d sparse OT map(s); added %s", len(results), ", ".join(written))
    return out if copy else None
