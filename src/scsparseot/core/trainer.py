"""Minimax training of a sparse ICNN Monge map (Makkuva et al. 2020 with a displacement penalty).

Two convex potentials are trained: ``g`` (its gradient maps source to target cells) and ``f`` (the
dual potential on the target side), with, for a batch of source cells ``x`` and target cells ``y``,

* ``L_g = mean_x[ f(∇g(x)) − ⟨x, ∇g(x)⟩ ] + λ · mean_x τ(∇g(x) − x)``  (several steps), then
* ``L_f = mean_x[ −f(∇g(x)) ] + mean_y[ f(y) ]``  (one step).

The penalty is a *mean* over cells, so λ means the same at any number of cells.

What makes it fast: data are centred on the source mean and divided by one global scale (this does
not change the OT map, only its units); both potentials start at the closed-form gene-wise Gaussian
map and its conjugate (:mod:`scsparseot.core.icnn`), so training refines an already good map; steps
are small mini-batches, the dual potential ``f`` learns ten times slower than ``g`` and its network is weight-decayed, Adam runs at a larger learning rate with a cosine decay, and training
stops once the average displacement dimension and the sliced-Wasserstein error stop changing.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from scipy import sparse

from .._checks import check_int, check_number
from ._device import resolve_device, seeded_torch
from ._scale import floored_sd
from .cells import CellData, DenseCells, as_cells
from .icnn import ACTIVATIONS, ICNN
from .map import SparseOTMap
from .metrics import sliced_wasserstein
from .penalties import Penalty, get_penalty
from .schedules import cosine_decay
from .stopping import ConvergenceMonitor

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._types import PenaltyName

logger = logging.getLogger(__name__)

__all__ = ["FitResult", "TrainConfig", "Trainer", "default_support_tol"]

HISTORY_KEYS = ("step", "lam", "loss_g", "loss_f", "dim", "err", "spa", "lr")


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


@dataclass(frozen=True)
class FitResult:
    """Outcome of one fit.

    Attributes
    ----------
    map
        The fitted :class:`~scsparseot.core.SparseOTMap`.
    lam
        Final penalty strength λ.
    history
        One array per quantity (``step, lam, loss_g, loss_f, dim, err, spa, lr``), one entry per evaluation.
    moves
        λ moves of an automatic search (``step, lam, eval, dim, err, accepted, temperature``); empty
        arrays for a fixed λ.
    n_iters
        Outer iterations run.
    converged, diverged
        Whether the convergence rule stopped the fit; whether it ended on non-finite values.
    reason
        Why training stopped: ``"converged"``, ``"max_iters"``, ``"diverged"`` or a search's reason.
    seconds
        Wall-clock time of the fit.
    """

    map: SparseOTMap
    lam: float
    history: dict[str, np.ndarray]
    moves: dict[str, np.ndarray] = field(default_factory=dict)
    n_iters: int = 0
    converged: bool = False
    diverged: bool = False
    reason: str = ""
    seconds: float = 0.0

    @property
    def avg_dim(self) -> float:
        """Average displacement dimension at the last evaluation."""
        return float(self.history["dim"][-1]) if len(self.history["dim"]) else float("nan")

    @property
    def err(self) -> float:
        """Sliced-Wasserstein error at the last evaluation (data units)."""
        return float(self.history["err"][-1]) if len(self.history["err"]) else float("nan")


def default_support_tol(x: np.ndarray | CellData | sparse.spmatrix, fraction: float = 0.1) -> np.ndarray:
    """Default per-gene tolerance: ``fraction`` × the gene's standard deviation in the source cells.

    Genes that do not vary in the source get ``fraction`` × the median standard deviation (or
    ``fraction`` when every gene is constant), so that numerical noise never counts as movement.
    ``x`` may be an array, a sparse matrix or :class:`~scsparseot.core.CellData` (whose
    standard deviations are streamed, without densifying).
    """
    if isinstance(x, DenseCells):
        x = x.to_numpy()
    if isinstance(x, CellData) or sparse.issparse(x):
        sd = as_cells(x).std(0, dtype=np.float64)
    else:
        sd = np.asarray(x, dtype=np.float64).std(0)
    return (fraction * floored_sd(sd)).astype(np.float32)


def check_cells(name: str, a: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """``a`` as a finite 2-D array (cells × genes) of ``dtype`` with at least two cells and one gene.

    Raises a :class:`ValueError` that names ``name`` and what is wrong otherwise.
    """
    try:
        a = np.asarray(a, dtype=dtype)
    except (TypeError, ValueError) as err:
        msg = f"{name} must be a numeric array (cells × genes); could not convert it: {err}"
        raise ValueError(msg) from err
    if a.ndim != 2:
        msg = f"{name} must be a 2-D array (cells × genes), got shape {a.shape}."
        raise ValueError(msg)
    if a.shape[0] < 2:
        msg = f"{name} needs at least 2 cells, got {a.shape[0]}."
        raise ValueError(msg)
    if a.shape[1] < 1:
        msg = f"{name} needs at least 1 gene, got shape {a.shape}."
        raise ValueError(msg)
    if not np.isfinite(a).all():
        msg = f"{name} contains NaN or infinite values; remove or impute them first."
        raise ValueError(msg)
    return a


def check_cell_data(name: str, a: np.ndarray | CellData | sparse.spmatrix) -> CellData:
    """``a`` as checked :class:`~scsparseot.core.CellData` (see :func:`check_cells`).

    Arrays are checked by :func:`check_cells` and wrapped in :class:`~scsparseot.core.DenseCells`;
    sparse matrices and other :class:`~scsparseot.core.CellData` are checked on their shape
    and, in one streaming pass, on their values (without densifying them).
    """
    if not (isinstance(a, CellData) or sparse.issparse(a)):
        return DenseCells(check_cells(name, a))
    cells = as_cells(a)
    n, d = cells.shape
    if n < 2:
        msg = f"{name} needs at least 2 cells, got {n}."
        raise ValueError(msg)
    if d < 1:
        msg = f"{name} needs at least 1 gene, got shape {cells.shape}."
        raise ValueError(msg)
    if cells.profile().n_nonfinite:
        msg = f"{name} contains NaN or infinite values; remove or impute them first."
        raise ValueError(msg)
    return cells


class _Rows:
    """Standardised cells ``(x − center) / scale`` as float32 tensors on the device.

    Dense input is standardised and moved to the device once (as the trainer always did); other
    :class:`~scsparseot.core.CellData` (sparse, lazily read) stay where they are and each
    request densifies, standardises and moves only the rows asked for.
    """

    dtype = torch.float32

    def __init__(self, cells: CellData, center: np.ndarray, scale: float, device: torch.device) -> None:
        self.cells, self.center, self.scale, self.device = cells, center, scale, device
        self.shape = cells.shape
        self._all = self._standardise(cells.to_numpy()) if isinstance(cells, DenseCells) else None

    def _standardise(self, a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((a - self.center) / self.scale, device=self.device)

    @property
    def resident(self) -> bool:
        """Whether all cells are on the device."""
        return self._all is not None

    def all(self) -> torch.Tensor:
        """All cells (read once and kept, for full-batch training)."""
        if self._all is None:
            self._all = self._standardise(self.cells.to_numpy())
        return self._all

    def take(self, idx: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The cells ``idx`` (any order, repeats allowed)."""
        if self._all is not None:
            return self._all[idx.to(self.device) if isinstance(idx, torch.Tensor) else idx]
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        return self._standardise(self.cells.rows(idx))

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-gene mean and (unbiased) standard deviation of the standardised cells."""
        if self._all is not None:
            return self._all.mean(0), self._all.std(0)
        prof = self.cells.profile()
        n = prof.n_cells
        mean = (prof.mean - self.center) / self.scale
        std = np.sqrt(prof.var * n / max(n - 1, 1)) / self.scale
        return (
            torch.as_tensor(mean.astype(np.float32), device=self.device),
            torch.as_tensor(std.astype(np.float32), device=self.device),
        )


class Trainer:
    """Stateful minimax trainer; :func:`~scsparseot.core.fit_map` drives it for a fixed λ, the λ searches step it.

    Parameters
    ----------
    x, y
        Source and target cells, ``(n, d)`` and ``(m, d)``, data units: arrays, scipy sparse
        matrices or :class:`~scsparseot.core.CellData`. Dense arrays are moved to the device
        whole; sparse and lazily read cells are densified one mini-batch at a time, and their
        means and variances are streamed, so the full dense matrix is never built (unless
        ``config.batch_size`` is ``None``: full batches need every cell).
    penalty
        Penalty name or instance (its parameters in standardised units).
    lam
        Initial penalty strength λ ≥ 0.
    config
        Trainer settings.
    support_tol
        Per-gene (or scalar) tolerance in data units; default :func:`default_support_tol`.
    seed
        Seed of the initialisation and the batches; the caller's global RNG is left untouched.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    """

    def __init__(
        self,
        x: np.ndarray | CellData | sparse.spmatrix,
        y: np.ndarray | CellData | sparse.spmatrix,
        *,
        penalty: PenaltyName | Penalty = "stvs",
        lam: float = 1.0,
        config: TrainConfig | None = None,
        support_tol: float | np.ndarray | None = None,
        seed: int = 0,
        device: str | torch.device = "auto",
    ) -> None:
        xc = check_cell_data("source data", x)
        yc = check_cell_data("target data", y)
        if xc.shape[1] != yc.shape[1]:
            msg = f"Source and target have different numbers of genes: {xc.shape[1]} and {yc.shape[1]}."
            raise ValueError(msg)
        self.config = config = config or TrainConfig()
        self.penalty = get_penalty(penalty)
        self.lam = _check_lam(lam)
        self.device = resolve_device(device)
        self.dim = xc.shape[1]
        # standardise: one translation and one global scale, which leave the OT map unchanged
        self.center = xc.mean(0)
        scale = float(np.sqrt(np.mean(xc.var(0))))
        self.scale = scale if scale > 0 else 1.0
        tol = default_support_tol(xc) if support_tol is None else np.asarray(support_tol, dtype=np.float32)
        if np.any(tol < 0):
            msg = f"support_tol must be >= 0, got {support_tol!r}."
            raise ValueError(msg)
        self.support_tol = np.broadcast_to(tol, (self.dim,)).astype(np.float32)
        self._tol_scaled = torch.as_tensor(self.support_tol / self.scale, device=self.device)
        self.x = _Rows(xc, self.center, self.scale, self.device)
        self.y = _Rows(yc, self.center, self.scale, self.device)
        self._batch = config.batch_size or max(self.x.shape[0], self.y.shape[0])
        self._gen = torch.Generator(device="cpu").manual_seed(int(seed))
        eval_rng = np.random.default_rng(seed)
        self._x_eval = self.x.take(_eval_index(self.x.shape[0], config.eval_size, eval_rng))
        self._y_eval = self.y.take(_eval_index(self.y.shape[0], config.eval_size, eval_rng))
        self._y_eval_np = self._y_eval.cpu().numpy()
        with seeded_torch(seed, self.device):
            self.g = ICNN(self.dim, config.hidden, activation=config.activation).to(self.device)
            self.f = ICNN(self.dim, config.hidden, activation=config.activation).to(self.device)
        if config.init == "gaussian":
            self._init_gaussian()
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr, betas=config.betas)
        f_net = [p for n, p in self.f.named_parameters() if n not in ("quad", "lin")]
        self.opt_f = torch.optim.AdamW(
            [{"params": [self.f.quad, self.f.lin], "weight_decay": 0.0}, {"params": f_net}],
            lr=config.lr,
            betas=config.betas,
            weight_decay=config.f_weight_decay,
        )
        self.step = 0
        self.lr_scale = 1.0
        self.n_recoveries = 0
        self.history: dict[str, list[float]] = {k: [] for k in HISTORY_KEYS}
        self._good_state: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------------- set-up
    def _init_gaussian(self) -> None:
        """Start ``g`` at the gene-wise Gaussian OT map and ``f`` at its convex conjugate."""
        (mx, sx), (my, sy) = self.x.mean_std(), self.y.mean_std()
        a = torch.where(sx > 1e-6, sy / sx.clamp(min=1e-6), torch.ones_like(sx)).clamp(1e-3, 1e3)
        b = my - a * mx
        self.g.set_diagonal_map(a, b)
        self.f.set_diagonal_map(1.0 / a, -b / a)

    def start_from(self, images: np.ndarray, *, n_steps: int = 300, lr: float = 1e-2) -> float:
        """Start both potentials at a given map: ``∇g(x_i) ≈ images_i`` and ``∇f(images_i) ≈ x_i``.

        Fits ``g`` and ``f`` by least squares on the source cells (Adam, ``n_steps`` full-batch
        steps, convexity kept by projection), so that training refines that map instead of the
        gene-wise Gaussian one. ``images`` are the start map's images of the source cells, in data
        units. Returns the final mean squared error of ``g`` in standardised units.
        """
        images = np.asarray(images, dtype=np.float32)
        if images.shape != self.x.shape:
            msg = f"images must have the source's shape {self.x.shape}, got {images.shape}."
            raise ValueError(msg)
        x = self.x.all()
        tx = torch.as_tensor((images - self.center) / self.scale, device=self.device)
        err = float("nan")
        for net, a, b in ((self.g, x, tx), (self.f, tx, x)):
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            for _ in range(n_steps):
                loss = ((net.transport(a, create_graph=True) - b) ** 2).sum(-1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                net.project()
            if net is self.g:
                err = float(loss.detach())
        return err

    # ---------------------------------------------------------------------------------- training
    def _draw(self, data: _Rows) -> torch.Tensor:
        n = data.shape[0]
        if self._batch >= n:
            return data.all()
        return data.take(torch.randint(n, (self._batch,), generator=self._gen))

    def _set_lr(self) -> float:
        c = self.config
        lr = cosine_decay(self.step, c.n_iters, c.lr, c.lr_final) * self.lr_scale
        for opt, factor in ((self.opt_g, 1.0), (self.opt_f, c.f_lr_scale)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        return lr

    def _clip(self, net: ICNN) -> None:
        if self.config.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.max_grad_norm)

    def _one_step(self) -> tuple[float, float]:
        x, y = self._draw(self.x), self._draw(self.y)
        self.f.requires_grad_(False)
        for _ in range(self.config.g_steps):
            tx = self.g.transport(x, create_graph=True)
            loss_g = (self.f(tx) - (x * tx).sum(-1)).mean() + self.lam * self.penalty(tx - x).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self._clip(self.g)
            self.opt_g.step()
            self.g.project()
        self.f.requires_grad_(True)
        tx = self.g.transport(x).detach()
        loss_f = self.f(y).mean() - self.f(tx).mean()
        self.opt_f.zero_grad(set_to_none=True)
        loss_f.backward()
        self._clip(self.f)
        self.opt_f.step()
        self.f.project()
        return float(loss_g.detach()), float(loss_f.detach())

    def train(
        self,
        n_steps: int,
        *,
        callback: Callable[[dict[str, float]], None] | None = None,
        stop_early: bool = True,
    ) -> str:
        """Run up to ``n_steps`` iterations.

        Training stops on unrecoverable divergence, and on convergence when ``stop_early``. Returns the reason: ``"converged"``, ``"diverged"`` or ``"steps"`` (budget used up).
        """
        monitor = ConvergenceMonitor(self.config.patience, self.config.min_delta, self.config.dim_delta)
        start = self.step
        loss_g = loss_f = float("nan")
        while self.step - start < n_steps:
            lr = self._set_lr()
            loss_g, loss_f = self._one_step()
            self.step += 1
            if self.step % self.config.eval_every and self.step - start < n_steps:
                continue
            record = self.evaluate()
            record.update(loss_g=loss_g, loss_f=loss_f, lr=lr)
            stop, reason = monitor.update(err=record["err"], dim=record["dim"], loss=loss_g + loss_f)
            if reason == "diverged":
                if not self._recover():
                    return "diverged"
                monitor.reset()
                continue
            self._good_state = self.state_dict()
            self._log(record)
            if callback is not None:
                callback(record)
            if stop_early and stop and self.step >= self.config.min_iters:
                return "converged"
        return "steps"

    def _recover(self) -> bool:
        """Roll back to the last good state with half the learning rate; ``False`` if out of tries."""
        if self._good_state is None or self.n_recoveries >= self.config.max_recoveries:
            return False
        self.n_recoveries += 1
        lr_scale = self.lr_scale * 0.5
        self.load_state_dict(self._good_state)
        self.lr_scale = lr_scale
        logger.warning(
            "non-finite loss at step %d; rolled back, learning rate × %.3g", self.step, self.lr_scale
        )
        return True

    def _log(self, record: dict[str, float]) -> None:
        for k in HISTORY_KEYS:
            self.history[k].append(float(record[k]))

    # -------------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Average dimension, sliced-W error (data units) and mean penalty on the evaluation cells."""
        tx = self.g.transport(self._x_eval)
        delta = tx - self._x_eval
        dim = float((delta.abs() > self._tol_scaled).sum(1).float().mean())
        spa = float(self.penalty(delta).mean())
        finite = bool(torch.isfinite(tx).all())
        err = (
            sliced_wasserstein(
                tx.cpu().numpy(), self._y_eval_np, n_projections=self.config.n_projections, seed=0
            )
            * self.scale
            if finite
            else float("nan")
        )
        return {
            "step": float(self.step),
            "lam": self.lam,
            "dim": dim if finite else float("nan"),
            "err": err,
            "spa": spa,
        }

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Deep copy of everything needed to resume (networks, optimisers, step, λ, RNG)."""
        return copy.deepcopy(
            {
                "g": self.g.state_dict(),
                "f": self.f.state_dict(),
                "opt_g": self.opt_g.state_dict(),
                "opt_f": self.opt_f.state_dict(),
                "step": self.step,
                "lam": self.lam,
                "lr_scale": self.lr_scale,
                "rng": self._gen.get_state(),
            }
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the history is kept as it is)."""
        state = copy.deepcopy(state)
        self.g.load_state_dict(state["g"])
        self.f.load_state_dict(state["f"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_f.load_state_dict(state["opt_f"])
        self.step = int(state["step"])
        self.lam = float(state["lam"])
        self.lr_scale = float(state["lr_scale"])
        self._gen.set_state(state["rng"])

    def to_map(self, genes: list[str] | None = None) -> SparseOTMap:
        """A standalone copy of the current map (on the CPU)."""
        g = copy.deepcopy(self.g).cpu()
        return SparseOTMap(g, center=self.center, scale=self.scale, support_tol=self.support_tol, genes=genes)

    def history_arrays(self) -> dict[str, np.ndarray]:
        """History as arrays."""
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.history.items()}


def _eval_index(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


def _check_lam(lam: float) -> float:
    if lam == "auto":
        return 1.0
    if isinstance(lam, bool) or not isinstance(lam, int | float | np.floating | np.integer):
        msg = f"lam must be a number >= 0, got {lam!r}."
        raise TypeError(msg)
    return check_number("lam", lam, low=0)


def __getattr__(name: str) -> Any:
    """``fit_map`` and ``finish`` live in :mod:`scsparseot.core.fit`; importing them from here still works."""
    if name in ("fit_map", "finish"):
        from . import fit

        return getattr(fit, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
