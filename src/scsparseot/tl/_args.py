"""The arguments of :func:`scsparseot.tl.sparse_ot`, checked and resolved once (scanpy's ``_check_*_args`` style)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import MethodName
from .._validation import (
    check_adata,
    check_choice,
    check_genes,
    check_groups,
    check_int,
    check_labels,
    check_layer,
    check_options,
)
from ..core import (
    AnnealConfig,
    ConditionalConfig,
    TrainConfig,
    default_support_tol,
    resolve_device,
    searches_lambda,
)
from ..core.conditional_config import STATE_LAM
from ._methods import BASELINES, METHOD_ARGS, check_unused, resolve_config, uses
from ._spec import CellDesign, FitSpec

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    import pandas as pd
    from anndata import AnnData

    from ..core import CellData

logger = logging.getLogger(__name__)

__all__ = ["SparseOTArgs", "check_sparse_ot_args"]


@dataclass(frozen=True)
class SparseOTArgs:
    """The checked arguments of one :func:`~scsparseot.tl.sparse_ot` call, with defaults resolved.

    Attributes
    ----------
    method, lam, config
        Resolved: the method (``"conditional"`` unless λ settings are given), λ (the method's
        default when ``None``) and the method's configuration (with ``n_iters``/``batch_size``
        applied): a :class:`~scsparseot.core.ConditionalConfig` for ``"conditional"``, else a
        :class:`~scsparseot.core.TrainConfig`.
    source_rows, target_rows
        Row indices of the source cells and of each target's cells.
    labels
        The ``state_key`` and ``replicate_key`` columns of every cell, as str arrays (checked:
        none missing among the fitted cells).
    matrix
        The matrix the cells are read from (``adata.X`` or the layer).
    gene_idx
        Indices of the fitted genes.
    device
        The resolved device, as a string.

    The other attributes are the arguments of the call, as given.
    """

    groupby: str
    source: str
    layer: str | None
    genes: Any
    method: str
    penalty: Any
    lam: Any
    max_genes: Any
    support_tol: Any
    min_support: Any
    fdr: Any
    n_null: Any
    n_runs: Any
    config: TrainConfig | ConditionalConfig
    anneal: AnnealConfig | None
    device: str
    seed: Any
    store_maps: bool
    checkpoint_dir: str | os.PathLike[str] | None
    key_added: str
    source_rows: np.ndarray
    target_rows: dict[str, np.ndarray]
    matrix: Any
    gene_idx: np.ndarray
    state_key: str | None = None
    replicate_key: str | None = None
    labels: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def train_config(self) -> TrainConfig:
        """The trainer settings: ``config`` itself, or the state networks' of a :class:`~scsparseot.core.ConditionalConfig`."""
        return self.config.train if isinstance(self.config, ConditionalConfig) else self.config

    def designs(self) -> dict[str, CellDesign]:
        """Each target's cell labels (states, replicates) for its fit; empty without ``state_key``/``replicate_key``."""
        if not self.labels:
            return {}

        def pick(key: str | None, rows: np.ndarray) -> np.ndarray | None:
            return None if key is None else self.labels[key][rows]

        return {
            t: CellDesign(
                source_states=pick(self.state_key, self.source_rows),
                target_states=pick(self.state_key, rows),
                source_replicates=pick(self.replicate_key, self.source_rows),
                target_replicates=pick(self.replicate_key, rows),
            )
            for t, rows in self.target_rows.items()
        }

    def fit_spec(self, x: CellData, num_threads: int | None) -> FitSpec:
        """What every target's fit shares, given the source cells ``x`` (for the default ``support_tol``).

        Parameters
        ----------
        x
            The source cells (fitted genes).
        num_threads
            Torch intra-op threads of each fit.

        Returns
        -------
        FitSpec
            The settings sent to each target's fit.
        """
        tol = (
            default_support_tol(x)
            if self.support_tol is None
            else np.full(x.shape[1], float(self.support_tol), dtype=np.float32)
        )
        return FitSpec(
            penalty=self.penalty,
            lam=self.lam if self.lam == "auto" else float(self.lam),
            max_genes=None if self.max_genes is None else float(self.max_genes),
            config=self.config,
            anneal=self.anneal,
            support_tol=tol,
            device=self.device,
            n_runs=int(self.n_runs),
            min_support=float(self.min_support),
            method=self.method,
            fdr=None if self.fdr is None else float(self.fdr),
            n_null=int(self.n_null),
            num_threads=num_threads,
        )

    def params(self, gene_names: list[str]) -> dict[str, Any]:
        """The resolved arguments as stored in ``uns[key_added]["params"]`` (h5ad-storable types).

        Parameters
        ----------
        gene_names
            Names of the fitted genes.

        Returns
        -------
        dict
            One entry per argument, ``None`` for those the method does not use
            (:data:`METHOD_ARGS`); a baseline map also records ``None`` for the device (it computes
            on the CPU) and ``store_maps`` (it stores no map), and the penalty it fixes (the
            elastic map's ``"stvs"``). ``"config"`` is the trainer settings (the state networks'
            for ``"conditional"``, whose other settings are ``"conditional"``).
        """
        lam, max_genes, penalty, config = self.lam, self.max_genes, self.penalty, self.train_config
        conditional = self.config.to_dict() if isinstance(self.config, ConditionalConfig) else None
        if conditional is not None:
            conditional.pop("train")  # stored as "config"
            for name in ("weights", "label_weights"):
                conditional[name] = np.asarray(conditional[name], dtype=np.float64)
        params = {
            "groupby": self.groupby,
            "source": str(self.source),
            "targets": np.asarray(list(self.target_rows), dtype=object),
            "layer": self.layer,
            "genes": None if self.genes is None else np.asarray(gene_names, dtype=object),
            "method": self.method,
            "penalty": penalty if isinstance(penalty, str) else type(penalty).__name__,
            "penalty_params": {} if isinstance(penalty, str) else dataclasses.asdict(penalty),
            "lam": lam if lam == "auto" else float(lam),
            "max_genes": None if max_genes is None else float(max_genes),
            "anneal": (self.anneal or AnnealConfig()).to_dict() if searches_lambda(lam, max_genes) else None,
            "support_tol": None if self.support_tol is None else float(self.support_tol),
            "min_support": float(self.min_support),
            "n_runs": int(self.n_runs),
            "fdr": None if self.fdr is None else float(self.fdr),
            "n_null": int(self.n_null),
            "n_iters": int(config.n_iters),
            "batch_size": None if config.batch_size is None else int(config.batch_size),
            "config": {k: np.asarray(v) if isinstance(v, list) else v for k, v in config.to_dict().items()},
            "conditional": conditional,
            "device": self.device,
            "seed": int(self.seed),
            "store_maps": bool(self.store_maps),
            "checkpoint_dir": None if self.checkpoint_dir is None else str(self.checkpoint_dir),
            "key_added": self.key_added,
            "state_key": self.state_key,
            "replicate_key": self.replicate_key,
        }
        params.update(dict.fromkeys(name for name in METHOD_ARGS if not uses(self.method, name)))
        if self.method in BASELINES:  # they compute on the CPU and store no map
            params.update(device=None, store_maps=None, penalty_params={})
            params["penalty"] = "stvs" if self.method == "elastic" else None
        return params


def check_sparse_ot_args(
    adata: AnnData,
    *,
    groupby: str,
    source: str,
    target: str | Sequence[str] | None,
    layer: str | None,
    genes: Sequence[str] | np.ndarray | pd.Index | None,
    method: MethodName | None,
    penalty: Any,
    lam: Any,
    max_genes: Any,
    support_tol: Any,
    min_support: Any,
    fdr: Any,
    n_null: Any,
    n_runs: Any,
    n_iters: Any,
    batch_size: Any,
    config: Any,
    anneal: Any,
    device: Any,
    seed: Any,
    store_maps: bool,
    checkpoint_dir: str | os.PathLike[str] | None,
    key_added: Any,
    copy: bool,
    state_key: Any = None,
    replicate_key: Any = None,
) -> SparseOTArgs:
    """Check every argument of :func:`~scsparseot.tl.sparse_ot` before anything is read or written.

    Parameters
    ----------
    adata
        The data.
    groupby, source, target, layer, genes, method, penalty, lam, max_genes, support_tol, min_support, fdr, n_null, n_runs, n_iters, batch_size, config, anneal, device, seed, store_maps, checkpoint_dir, key_added, copy, state_key, replicate_key
        The arguments of :func:`~scsparseot.tl.sparse_ot`.

    Returns
    -------
    SparseOTArgs
        The checked, resolved arguments.

    Raises
    ------
    KeyError, ValueError, TypeError
        On the first bad argument, with a message that names it and the fix.
    """
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
        if method == "sparse_icnn":
            given = "lam=" if lam is not None else "max_genes="
            logger.info(
                "%s given: fitting the sparse ICNN on all genes (method='sparse_icnn'); leave lam and "
                "max_genes unset for the default state-conditional map, or pass method='conditional'.",
                given,
            )
    check_choice("method", method, MethodName)
    if method == "conditional" and (lam == "auto" or max_genes is not None):
        msg = (
            "method='conditional' takes a fixed lam (the penalty strength of each state's map, default "
            f"{STATE_LAM}); lam='auto' and max_genes= search λ for method='sparse_icnn'."
        )
        raise ValueError(msg)
    check_unused(
        method,
        penalty=penalty,
        lam=lam,
        max_genes=max_genes,
        min_support=min_support,
        n_null=n_null,
        n_runs=n_runs,
        n_iters=n_iters,
        batch_size=batch_size,
        config=config,
        anneal=anneal,
        state_key=state_key,
        replicate_key=replicate_key,
    )
    if lam is None:
        lam = STATE_LAM if method == "conditional" else "auto"
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
    if method == "rgd" and max_genes is None:
        msg = "method='rgd' needs max_genes= (the limit on moved genes per cell)."
        raise ValueError(msg)
    if fdr is not None and (isinstance(fdr, bool) or not isinstance(fdr, int | float) or not 0 < fdr < 1):
        msg = f"fdr must be None or a rate in (0, 1), got {fdr!r}."
        raise ValueError(msg)
    check_int("n_null", n_null, 1, expected="a positive integer")
    check_int("n_runs", n_runs, 0, expected="a non-negative integer (number of stability refits)")
    config = resolve_config(method, config, n_iters=n_iters, batch_size=batch_size)
    source_rows, target_rows = check_groups(adata, groupby, source, target)
    bad = [t for t in target_rows if "/" in t]
    if bad:
        msg = f"Group labels {bad} contain '/', which AnnData cannot store as a key; rename them, e.g. adata.obs[{groupby!r}] = adata.obs[{groupby!r}].str.replace('/', '_')."
        raise ValueError(msg)
    matrix = check_layer(adata, layer)
    gene_idx = check_genes(adata, genes)
    rows = np.concatenate([source_rows, *target_rows.values()])
    labels = {
        key: check_labels(adata, name, key, rows, groupby)
        for name, key in (("state_key", state_key), ("replicate_key", replicate_key))
        if key is not None
    }
    dev = resolve_device(device)
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
    return SparseOTArgs(
        groupby=groupby,
        source=source,
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
        config=config,
        anneal=anneal,
        device=str(dev),
        seed=seed,
        store_maps=store_maps,
        checkpoint_dir=checkpoint_dir,
        key_added=key_added,
        source_rows=source_rows,
        target_rows=target_rows,
        matrix=matrix,
        gene_idx=gene_idx,
        state_key=state_key,
        replicate_key=replicate_key,
        labels=labels,
    )
