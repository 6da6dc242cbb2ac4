"""The entry point of a fit: train a :class:`~scsparseot.core.Trainer` at a fixed λ or search λ, then package the result.

It sits above both the trainer (:mod:`scsparseot.core.trainer`) and the λ searches
(:mod:`scsparseot.core.annealing`), which know nothing of each other: the searches step any object
with the small interface :class:`~scsparseot.core.annealing.SearchTrainer`, which the trainer has.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from .annealing import AnnealConfig, anneal_lambda, constrain_dimension, n_moves, searches_lambda
from .result import FitResult
from .trainer import TrainConfig, Trainer

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from scipy import sparse

    from .._types import PenaltyName
    from .cells import CellData
    from .penalties import Penalty

logger = logging.getLogger(__name__)

__all__ = ["finish", "fit_map"]


def fit_map(
    x: np.ndarray | CellData | sparse.spmatrix,
    y: np.ndarray | CellData | sparse.spmatrix,
    *,
    penalty: PenaltyName | Penalty = "stvs",
    lam: float | Literal["auto"] = 1.0,
    max_genes: float | None = None,
    config: TrainConfig | None = None,
    anneal: AnnealConfig | None = None,
    support_tol: float | np.ndarray | None = None,
    seed: int = 0,
    device: str | torch.device = "auto",
    genes: list[str] | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit a sparse Monge map from ``x`` (source cells) to ``y`` (target cells).

    Parameters
    ----------
    x, y
        Source and target cells, ``(n, d)`` and ``(m, d)`` in data units: float arrays, scipy
        sparse matrices (densified one mini-batch at a time) or
        :class:`~scsparseot.core.CellData` (for example rows read lazily from a file).
    penalty
        ``"stvs"`` (default), ``"l1"``, ``"l0"``, ``"k_overlap"`` or a :class:`~scsparseot.core.Penalty`.
    lam
        Penalty strength λ ≥ 0 (``0`` is the plain ICNN map of Makkuva et al.), or ``"auto"`` to
        tune it by simulated annealing (:func:`~scsparseot.core.annealing.anneal_lambda`).
    max_genes
        Limit on the average number of moved genes per cell: λ is raised until the limit holds,
        then lowered while it holds (:func:`~scsparseot.core.annealing.constrain_dimension`),
        starting from ``lam`` (or 1 when ``lam="auto"``).
    config
        :class:`~scsparseot.core.TrainConfig`; with a λ search, ``config.n_iters`` is not used (see ``anneal``).
    anneal
        :class:`~scsparseot.core.annealing.AnnealConfig` of the λ searches.
    support_tol
        Tolerance below which a displacement counts as zero (data units, scalar or per gene).
    seed
        Random seed.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    genes
        Gene names stored with the map.
    callback
        Called with each evaluation record (``step, lam, dim, err, spa, loss_g, loss_f, lr``).

    Returns
    -------
    FitResult
        The map, its history, the λ moves of a search and convergence flags.

    Examples
    --------
    >>> import numpy as np
    >>> from scsparseot.core import TrainConfig, fit_map
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5)).astype("float32")
    >>> y = rng.normal(size=(200, 5)).astype("float32")
    >>> y[:, 0] += 3.0
    >>> res = fit_map(x, y, lam=0.5, config=TrainConfig(n_iters=100, hidden=(16,)), device="cpu")
    >>> int(np.abs(res.map.displacement(x)).mean(0).argmax())
    0
    """
    t0 = time.perf_counter()
    search = searches_lambda(lam, max_genes)
    lam0 = 1.0 if lam == "auto" else lam
    config = config or TrainConfig()
    if search:
        anneal = anneal or AnnealConfig()
        # the learning-rate schedule spans the whole search
        budget = anneal.n_init + anneal.n_train * (
            n_moves(anneal) + (anneal.max_increases if max_genes else 0)
        )
        config = replace(config, n_iters=budget)
    trainer = Trainer(
        x, y, penalty=penalty, lam=lam0, config=config, support_tol=support_tol, seed=seed, device=device
    )
    moves = None
    if max_genes is not None:
        if not (isinstance(max_genes, int | float | np.number) and 0 < max_genes <= trainer.dim):
            msg = f"max_genes must be a number in (0, n_genes={trainer.dim}], got {max_genes!r}."
            raise ValueError(msg)
        reason, moves = constrain_dimension(trainer, float(max_genes), anneal, seed=seed, callback=callback)
    elif lam == "auto":
        reason, moves = anneal_lambda(trainer, anneal, seed=seed, callback=callback)
    else:
        reason = trainer.train(config.n_iters, callback=callback)
    return finish(trainer, reason, genes=genes, seconds=time.perf_counter() - t0, moves=moves)


def finish(
    trainer: Trainer,
    reason: str,
    *,
    genes: list[str] | None = None,
    seconds: float = 0.0,
    moves: dict[str, np.ndarray] | None = None,
) -> FitResult:
    """Package a trainer's state as a :class:`~scsparseot.core.FitResult` (``"steps"`` is reported as ``"max_iters"``)."""
    diverged = reason == "diverged"
    if diverged:
        logger.warning("training diverged at step %d after %d recoveries", trainer.step, trainer.n_recoveries)
    return FitResult(
        map=trainer.to_map(genes),
        lam=trainer.lam,
        history=trainer.history_arrays(),
        moves=moves or {},
        n_iters=trainer.step,
        converged=reason in ("converged", "annealed", "dimension_met"),
        diverged=diverged,
        reason="max_iters" if reason == "steps" else reason,
        seconds=seconds,
    )
