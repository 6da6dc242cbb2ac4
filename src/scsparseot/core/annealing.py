"""Automatic choice of the penalty strength λ.

* :func:`anneal_lambda` (``lam="auto"``, DisNOT Alg. 1): simulated annealing of λ minimising
  ``Eval = α·Spa + (1 − α)·Err``, where ``Spa`` is the mean penalty of the displacements and
  ``Err`` the sliced-Wasserstein error, each divided by its value after the initial training so
  both are on one scale, among the maps whose error stays within ``1 + err_tolerance`` of that
  initial error (a guard against the trivial minimum of ``Eval``: a map that moves nothing).
* :func:`constrain_dimension` (``max_genes=l``, DisNOT Alg. 2): raise λ until the average
  displacement dimension is at most ``l``, then anneal λ downwards, accepting a move only if the
  limit still holds and the error drops, so that the map is as faithful as the limit allows.

A rejected move restores the trainer's state from before the move (networks, optimisers, λ),
which is what "train back at the old λ" aims at, without spending the steps.

The acceptance rule minimises Eval: a move is accepted if ``Δ = Eval_new − Eval < 0``, or with
probability ``exp(−Δ / (T · t_scale))`` otherwise (the published pseudocode prints the inequality
flipped). ``Eval`` is normalised to 1 after the initial training and a move changes it by a few
percent, so against ``T ≈ 1`` the plain rule ``exp(−Δ / T)`` accepts nearly every move and λ drifts
at random; ``t_scale`` puts the temperature in units of ``Eval``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .schedules import geometric_decay

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "AnnealConfig",
    "SearchTrainer",
    "accept_move",
    "anneal_lambda",
    "constrain_dimension",
    "move_range",
    "n_moves",
    "searches_lambda",
]

MOVE_KEYS = ("step", "lam", "eval", "dim", "err", "accepted", "temperature")


class SearchTrainer(Protocol):
    """What the λ searches use of a trainer (:class:`~scsparseot.core.Trainer` provides it).

    Attributes
    ----------
    lam
        Current penalty strength λ (the searches set it).
    step
        Iterations run so far.
    """

    lam: float
    step: int

    def train(
        self,
        n_steps: int,
        *,
        callback: Callable[[dict[str, float]], None] | None = None,
        stop_early: bool = True,
    ) -> str:
        """Run up to ``n_steps`` iterations; return why training stopped."""
        ...

    def evaluate(self) -> dict[str, float]:
        """The current ``dim``, ``err``, ``spa`` and ``lam``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """A copy of everything needed to go back to this point (λ included)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go back to a :meth:`state_dict`."""
        ...


@dataclass(frozen=True)
class AnnealConfig:
    """Settings of the λ searches.

    Parameters
    ----------
    alpha
        Weight of sparsity in ``Eval`` (``1 − alpha`` on the error).
    n_init
        Training iterations before the first move.
    n_train
        Iterations after each proposed λ.
    t_init, t_min, decay
        Temperature schedule ``T_k = t_init · decay^k`` while ``T_k ≥ t_min``.
    t_scale
        Unit of the temperature in the acceptance test, as a share of the initial ``Eval`` (which is
        normalised to 1): a move that makes ``Eval`` worse by ``Δ`` is accepted with probability
        ``exp(−Δ / (T · t_scale))``. With ``t_scale = 0.02`` a move 2% worse is accepted with
        probability ``1/e`` at ``T = 1`` and ``e^{-6.7}`` at ``T = 0.15``.
    err_tolerance
        A move whose ``Err`` exceeds ``(1 + err_tolerance) · Err_0`` (the error after the initial
        training) is rejected whatever its ``Eval``. With ``alpha = 0.9`` the minimum of ``Eval`` can
        be a map that moves nothing: where effects are small, the identity's error is only two or
        three times ``Err_0`` while its sparsity term is 0. ``None`` searches ``Eval`` alone.
    p
        Range exponent: proposals are ``λ(1 + U(−R, R))`` with ``R = max(0.01, exp(−p(1 − T)))``.
    increase_rate
        Factor ``1 + increase_rate`` applied to λ while the dimension limit is exceeded.
    max_increases
        Most λ increases before giving up on the dimension limit.
    """

    alpha: float = 0.9
    n_init: int = 300
    n_train: int = 100
    t_init: float = 1.0
    t_min: float = 0.15
    decay: float = 0.8
    t_scale: float = 0.02
    err_tolerance: float | None = 0.1
    p: float = 3.0
    increase_rate: float = 0.5
    max_increases: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.alpha <= 1:
            msg = f"AnnealConfig.alpha must lie in [0, 1], got {self.alpha}."
            raise ValueError(msg)
        if not (0 < self.t_min <= self.t_init and 0 < self.decay < 1 and self.t_scale > 0):
            msg = "AnnealConfig needs 0 < t_min <= t_init, 0 < decay < 1 and t_scale > 0."
            raise ValueError(msg)
        if self.err_tolerance is not None and not self.err_tolerance >= 0:
            msg = f"AnnealConfig.err_tolerance must be >= 0 or None, got {self.err_tolerance}."
            raise ValueError(msg)
        if min(self.n_init, self.n_train) < 1 or self.increase_rate <= 0 or self.max_increases < 0:
            msg = "AnnealConfig needs n_init, n_train >= 1, increase_rate > 0 and max_increases >= 0."
            raise ValueError(msg)

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict (for ``uns`` and JSON)."""
        return dict(vars(self))


def searches_lambda(lam: float | str, max_genes: float | None) -> bool:
    """Whether a fit searches λ (``lam="auto"``: :func:`anneal_lambda`; a ``max_genes`` limit: :func:`constrain_dimension`).

    Examples
    --------
    >>> searches_lambda("auto", None), searches_lambda(1.0, 20), searches_lambda(1.0, None)
    (True, True, False)
    """
    return lam == "auto" or max_genes is not None


def n_moves(config: AnnealConfig) -> int:
    """Number of annealing moves the temperature schedule allows.

    Examples
    --------
    >>> n_moves(AnnealConfig(t_init=1.0, t_min=0.5, decay=0.5))
    2
    """
    return math.floor(math.log(config.t_min / config.t_init) / math.log(config.decay) + 1e-9) + 1


def move_range(temperature: float, p: float) -> float:
    """Relative range of a proposal, ``max(0.01, exp(−p(1 − T)))``.

    Examples
    --------
    >>> move_range(1.0, 3.0), round(move_range(0.0, 3.0), 4)
    (1.0, 0.0498)
    """
    return max(0.01, math.exp(-p * (1.0 - temperature)))


def accept_move(delta: float, temperature: float, u: float) -> bool:
    """Metropolis rule for a minimisation: accept if ``delta < 0`` or ``u < exp(−delta / T)``.

    Examples
    --------
    >>> accept_move(-0.1, 0.5, 0.99), accept_move(0.1, 0.5, 0.9), accept_move(0.1, 0.5, 0.5)
    (True, False, True)
    """
    if delta < 0:
        return True
    return u < math.exp(-delta / max(temperature, 1e-12))


class _Moves:
    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {k: [] for k in MOVE_KEYS}

    def add(
        self,
        trainer: SearchTrainer,
        record: dict[str, float],
        value: float,
        *,
        accepted: bool,
        temperature: float,
    ) -> None:
        row = {
            "step": trainer.step,
            "lam": record["lam"],
            "eval": value,
            "dim": record["dim"],
            "err": record["err"],
        }
        for k, v in row.items():
            self.rows[k].append(float(v))
        self.rows["accepted"].append(bool(accepted))
        self.rows["temperature"].append(float(temperature))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.asarray(v, dtype=np.float64) for k, v in self.rows.items() if k != "accepted"}
        out["accepted"] = np.asarray(self.rows["accepted"], dtype=bool)
        return out


def _train(
    trainer: SearchTrainer, n: int, callback: Callable[[dict[str, float]], None] | None
) -> dict[str, float]:
    trainer.train(n, callback=callback, stop_early=False)
    return trainer.evaluate()


def anneal_lambda(
    trainer: SearchTrainer,
    config: AnnealConfig | None = None,
    *,
    seed: int = 0,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Simulated annealing of λ on a :class:`~scsparseot.core.Trainer` (in place).

    Returns the stopping reason (``"annealed"`` or ``"diverged"``) and the table of moves.
    """
    config = config or AnnealConfig()
    rng = np.random.default_rng(seed)
    moves = _Moves()
    rec = _train(trainer, config.n_init, callback)
    if not math.isfinite(rec["err"]):
        return "diverged", moves.arrays()
    spa0, err0 = max(rec["spa"], 1e-12), max(rec["err"], 1e-12)

    def score(r: dict[str, float]) -> float:
        return config.alpha * r["spa"] / spa0 + (1 - config.alpha) * r["err"] / err0

    max_err = math.inf if config.err_tolerance is None else (1 + config.err_tolerance) * err0
    current = score(rec)
    moves.add(trainer, rec, current, accepted=True, temperature=config.t_init)
    for k in range(n_moves(config)):
        temperature = geometric_decay(k, config.t_init, config.decay)
        r = move_range(temperature, config.p)
        before = trainer.state_dict()
        trainer.lam = max(trainer.lam * (1.0 + rng.uniform(-r, r)), 1e-8)
        rec = _train(trainer, config.n_train, callback)
        value = score(rec) if math.isfinite(rec["err"]) else math.inf
        accepted = rec["err"] <= max_err and accept_move(
            value - current, temperature * config.t_scale, rng.random()
        )
        moves.add(trainer, rec, value, accepted=accepted, temperature=temperature)
        if accepted:
            current = value
        else:
            trainer.load_state_dict(before)
    return "annealed", moves.arrays()


def constrain_dimension(
    trainer: SearchTrainer,
    max_genes: float,
    config: AnnealConfig | None = None,
    *,
    seed: int = 0,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """Largest-fidelity map whose average displacement dimension is at most ``max_genes`` (in place).

    Returns the reason (``"dimension_met"``, ``"dimension_not_met"`` or ``"diverged"``) and the moves.
    """
    config = config or AnnealConfig()
    rng = np.random.default_rng(seed)
    moves = _Moves()
    rec = _train(trainer, config.n_init, callback)
    raises = 0
    while rec["dim"] > max_genes and raises < config.max_increases and math.isfinite(rec["err"]):
        trainer.lam *= 1.0 + config.increase_rate
        raises += 1
        rec = _train(trainer, config.n_train, callback)
        moves.add(trainer, rec, rec["err"], accepted=True, temperature=config.t_init)
    if not math.isfinite(rec["err"]):
        return "diverged", moves.arrays()
    if rec["dim"] > max_genes:
        return "dimension_not_met", moves.arrays()
    current = rec["err"]
    for k in range(n_moves(config)):
        temperature = geometric_decay(k, config.t_init, config.decay)
        r = move_range(temperature, config.p)
        before = trainer.state_dict()
        trainer.lam = max(trainer.lam * (1.0 + rng.uniform(-r, 0.0)), 1e-8)
        rec = _train(trainer, config.n_train, callback)
        accepted = bool(rec["dim"] <= max_genes and rec["err"] < current)
        moves.add(trainer, rec, rec["err"], accepted=accepted, temperature=temperature)
        if accepted:
            current = rec["err"]
        else:
            trainer.load_state_dict(before)
    return "dimension_met", moves.arrays()
