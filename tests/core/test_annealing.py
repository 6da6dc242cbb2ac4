"""λ searches on a stand-in trainer whose sparsity and error are known functions of λ."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scsparseot.core import AnnealConfig, anneal_lambda, constrain_dimension


class CurveTrainer:
    """Implements what the λ searches use of a Trainer: ``lam``, ``step``, ``train``, ``evaluate``,
    ``state_dict``/``load_state_dict``. Spa falls and Err rises with λ (Err with a little noise);
    ``bowl=True``: Spa does not depend on λ and Err is smallest at λ = 3."""

    def __init__(self, lam: float = 1.0, noise: float = 0.0, seed: int = 0, *, bowl: bool = False) -> None:
        self.lam, self.step, self.noise, self.bowl = lam, 0, noise, bowl
        self.rng = np.random.default_rng(seed)

    def train(self, n: int, callback=None, stop_early: bool = False) -> None:
        self.step += n

    def evaluate(self) -> dict[str, float]:
        err = 0.1 + (self.lam - 3.0) ** 2 if self.bowl else 0.2 + 0.05 * self.lam**2
        return {
            "spa": 1.0 if self.bowl else math.exp(-self.lam),
            "err": err * (1 + self.noise * self.rng.standard_normal()),
            "dim": 10.0 / (1.0 + self.lam),
            "lam": self.lam,
        }

    def state_dict(self) -> dict[str, float]:
        return {"lam": self.lam}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.lam = state["lam"]


def eval_of(lam: float, alpha: float = 0.9) -> float:
    """Eval of the default curves normalised by their values at λ = 1 (the start): minimum near λ = 3."""
    return alpha * math.exp(1 - lam) + (1 - alpha) * (0.2 + 0.05 * lam**2) / 0.25


CONFIG = AnnealConfig(n_init=10, n_train=5, decay=0.95, err_tolerance=None)


@pytest.mark.parametrize("seed", range(5))
def test_annealing_moves_lambda_towards_the_minimum_of_eval(seed):
    trainer = CurveTrainer(noise=0.01, seed=seed)
    reason, moves = anneal_lambda(trainer, CONFIG, seed=seed)
    assert reason == "annealed"
    lam_best = min(np.linspace(0.1, 10, 991), key=eval_of)
    assert 2.5 < lam_best < 3.5
    assert abs(math.log(trainer.lam / lam_best)) < 0.3 * abs(math.log(1.0 / lam_best))
    assert eval_of(trainer.lam) < eval_of(1.0) - 0.1
    # the trainer ends in the state of the last accepted move
    assert trainer.lam == pytest.approx(moves["lam"][moves["accepted"]][-1])


def test_rejected_moves_restore_the_state_and_late_moves_are_selective():
    trainer = CurveTrainer(lam=3.0, bowl=True)  # start at the minimum: every move makes Eval worse
    _, moves = anneal_lambda(trainer, CONFIG, seed=0)
    late = moves["temperature"] < 0.4
    assert late.sum() > 5
    assert moves["accepted"][late].mean() < 0.5
    assert abs(trainer.lam - 3.0) < 0.3
    # rejected proposals were trained and evaluated, then undone
    assert np.any(np.abs(moves["lam"][~moves["accepted"]] - 3.0) > 0.5)


def test_unscaled_temperature_is_a_random_walk():
    """With t_scale = 1 (temperature in raw Eval units) most moves away from the minimum are accepted."""
    walk = AnnealConfig(n_init=10, n_train=5, decay=0.95, t_scale=1.0, err_tolerance=None)
    _, moves = anneal_lambda(CurveTrainer(lam=3.0, bowl=True), walk, seed=0)
    _, strict = anneal_lambda(CurveTrainer(lam=3.0, bowl=True), CONFIG, seed=0)
    assert moves["accepted"][1:].mean() > 0.6
    assert strict["accepted"][1:].mean() < 0.3


def test_error_tolerance_stops_lambda_where_the_error_leaves_its_band():
    """Default search: Err may grow at most 10% over its value after the initial training."""
    trainer = CurveTrainer(noise=0.0)  # Err = 0.2 + 0.05 λ²: 0.25 at the start, 0.275 at λ = 1.22
    _, moves = anneal_lambda(trainer, AnnealConfig(n_init=10, n_train=5, decay=0.95), seed=0)
    assert np.all(moves["err"][moves["accepted"]] <= 0.275 + 1e-12)
    assert np.any(moves["err"] > 0.275)  # proposals beyond the band were tried and rejected
    assert 1.0 < trainer.lam <= math.sqrt(0.075 / 0.05) + 1e-9  # as sparse as the band allows


def test_constrain_dimension_raises_then_lowers_lambda_within_the_limit():
    trainer = CurveTrainer(lam=0.1)  # dim 9.1 at the start
    reason, moves = constrain_dimension(trainer, max_genes=3.0, config=CONFIG, seed=0)
    assert reason == "dimension_met"
    assert 10.0 / (1.0 + trainer.lam) <= 3.0
    # λ ended as low as the limit allows (dim = 3 at λ = 7/3), not far above it
    assert trainer.lam < 1.5 * 7 / 3
    accepted = moves["accepted"] & (moves["temperature"] < 1.0)
    assert np.all(moves["dim"][accepted] <= 3.0)


@pytest.mark.parametrize(
    "kwargs", [{"t_scale": 0.0}, {"t_scale": -1.0}, {"alpha": 1.5}, {"decay": 1.0}, {"err_tolerance": -0.1}]
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="AnnealConfig"):
        AnnealConfig(**kwargs)
