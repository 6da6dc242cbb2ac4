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
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy import sparse

from .._checks import check_number
from ._cell_sources import DenseCells, as_cells
from ._device import resolve_device, seeded_torch
from ._rows import Rows, check_cell_data
from ._rows import check_cells as check_cells
from ._scale import floored_sd
from .cells import CellData
from .icnn import ICNN
from .map import SparseOTMap
from .metrics import sliced_wasserstein
from .penalties import Penalty, get_penalty
from .schedules import cosine_decay
from .stopping import ConvergenceMonitor
from .train_config import TrainConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._types import PenaltyName

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "Trainer", "default_support_tol"]

HISTORY_KEYS = ("step", "lam", "loss_g", "loss_f", "dim", "err", "spa", "lr")


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
        self.x = Rows(xc, self.center, self.scale, self.device)
        self.y = Rows(yc, self.center, self.scale, self.device)
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

    def start_from(
        self,
        images: np.ndarray,
        *,
        n_steps: int = 300,
        lr: float = 1e-2,
        max_cells: int | None = None,
        seed: int = 0,
    ) -> float:
        """Start both potentials at a given map: ``∇g(x_i) ≈ images_i`` and ``∇f(images_i) ≈ x_i``.

        Fits ``g`` and ``f`` by least squares on the source cells (Adam, ``n_steps`` full-batch
        steps, convexity kept by projection), so that training refines that map instead of the
        gene-wise Gaussian one. ``images`` are the start map's images of the source cells, in data
        units. With ``max_cells``, the fit uses at most that many source cells (a seeded subsample),
        so that its cost is bounded however many cells the source has. Returns the final mean
        squared error of ``g`` in standardised units.

        Examples
        --------
        >>> import numpy as np
        >>> from scsparseot.core import TrainConfig, Trainer
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(100, 3)).astype("float32")
        >>> y = x + np.array([1.0, 0.0, 0.0], dtype="float32")
        >>> t = Trainer(x, y, config=TrainConfig(hidden=(8,)), device="cpu")
        >>> t.start_from(x + np.array([1.0, 0.0, 0.0])) < 1e-3  # ∇g now moves gene 0 by 1
        True
        """
        images = np.asarray(images, dtype=np.float32)
        if images.shape != self.x.shape:
            msg = f"images must have the source's shape {self.x.shape}, got {images.shape}."
            raise ValueError(msg)
        x = self.x.all()
        if max_cells is not None and images.shape[0] > max_cells:
            rows = np.sort(np.random.default_rng(seed).choice(images.shape[0], max_cells, replace=False))
            x, images = x[torch.as_tensor(rows, device=x.device)], images[rows]
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
    def _draw(self, data: Rows) -> torch.Tensor:
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
