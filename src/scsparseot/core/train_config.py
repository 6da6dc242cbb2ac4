"""Settings of the minimax trainer (:class:`~scsparseot.core.Trainer`), checked when created."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .._checks import check_int
from .icnn import ACTIVATIONS

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the minimax trainer (all in standardised units where units apply).

    Parameters
    ----------
    hidden
        Hidden widths of both ICNNs.
    activation
        ICNN activation (see :class:`~scsparseot.core.ICNN`).
    n_iters
        Maximum number of outer iterations (one ``f`` update each); ``0`` keeps the start map.
    min_iters
        Iterations before convergence may stop the fit.
    g_steps
        ``g`` updates per ``f`` update.
    lr
        Initial Adam learning rate (cosine-decayed to ``lr * lr_final`` at ``n_iters``).
    lr_final
        Final learning rate as a fraction of ``lr``.
    betas
        Adam betas.
    f_lr_scale
        Learning rate of ``f`` relative to ``g``. A slower dual potential keeps the game stable and
        stops ``f`` from fitting the sampling noise of the target cells (which would make ``g`` move
        unperturbed genes).
    f_weight_decay
        Decoupled (AdamW) weight decay of the network part of ``f`` (not of its quadratic part).
        Without it ``f`` slowly learns to tell the finite target sample apart from the transported
        cells through unperturbed genes, and ``g`` then starts moving those genes.
    batch_size
        Cells per batch from each side (``None``: all cells). Mini-batches also regularise ``f``.
    eval_every
        Iterations between evaluations (history, progress, convergence).
    eval_size
        Cells from each side used for evaluations.
    patience, min_delta, dim_delta
        Convergence rule (:class:`~scsparseot.core.stopping.ConvergenceMonitor`).
    init
        ``"gaussian"``: start at the gene-wise Gaussian OT map; ``"identity"``: at ``T(x) = x``.
    n_projections
        Projections of the sliced-Wasserstein error.
    max_grad_norm
        Gradient clipping (``None`` disables it).
    max_recoveries
        Times a non-finite loss may be recovered from (roll back, halve the learning rate).
    """

    hidden: tuple[int, ...] = (64, 64, 64, 64)
    activation: str = "softplus"
    n_iters: int = 2000
    min_iters: int = 200
    g_steps: int = 2
    lr: float = 1e-3
    lr_final: float = 0.1
    f_lr_scale: float = 0.1
    f_weight_decay: float = 50.0
    betas: tuple[float, float] = (0.5, 0.9)
    batch_size: int | None = 256
    eval_every: int = 50
    eval_size: int = 2000
    patience: int = 4
    min_delta: float = 0.01
    dim_delta: float = 0.5
    init: Literal["gaussian", "identity"] = "gaussian"
    n_projections: int = 100
    max_grad_norm: float | None = 10.0
    max_recoveries: int = 3

    def __post_init__(self) -> None:
        ints = {"n_iters": 0, "min_iters": 0, "g_steps": 1, "eval_every": 1, "eval_size": 2, "patience": 1}
        for name, low in ints.items():
            check_int(f"TrainConfig.{name}", getattr(self, name), low)
        if not (self.lr > 0 and 0 <= self.lr_final <= 1):
            msg = f"TrainConfig needs lr > 0 and 0 <= lr_final <= 1, got lr={self.lr}, lr_final={self.lr_final}."
            raise ValueError(msg)
        check_int("TrainConfig.batch_size", self.batch_size, 2, none_ok=True)
        if self.init not in ("gaussian", "identity"):
            msg = f"TrainConfig.init must be 'gaussian' or 'identity', got {self.init!r}."
            raise ValueError(msg)
        if self.activation not in ACTIVATIONS:
            msg = f"TrainConfig.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}."
            raise ValueError(msg)
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            msg = f"TrainConfig.hidden needs at least one positive width, got {self.hidden!r}."
            raise ValueError(msg)
        if not all(0 <= b < 1 for b in self.betas) or len(self.betas) != 2:
            msg = f"TrainConfig.betas must be two numbers in [0, 1), got {self.betas!r}."
            raise ValueError(msg)
        if self.f_lr_scale <= 0 or self.f_weight_decay < 0 or self.max_recoveries < 0:
            msg = "TrainConfig needs f_lr_scale > 0, f_weight_decay >= 0 and max_recoveries >= 0."
            raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for ``uns`` and JSON)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
