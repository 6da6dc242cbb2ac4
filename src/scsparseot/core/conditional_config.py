"""Settings of the state-conditional map (:func:`~scsparseot.core.fit_conditional`) and their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .._checks import check_int
from .train_config import TrainConfig

__all__ = [
    "EB_MIN_GENES",
    "EB_MIN_POSTERIOR",
    "LABEL_TEST_WEIGHTS",
    "STATE_LAM",
    "STATE_TRAIN",
    "TEST_WEIGHTS",
    "ConditionalConfig",
]

#: trainer settings of each state's map: small networks (a state moves a few dozen genes at most), a
#: small learning rate (training refines the closed-form start), and no weight decay on the dual
#: potential: the state's genes are already selected, so ``f`` cannot lead ``g`` into unselected
#: genes, and decay would pull ``f`` away from the start's conjugate
STATE_TRAIN = TrainConfig(
    hidden=(32, 32), n_iters=500, min_iters=100, eval_every=25, lr=3e-4, f_lr_scale=1.0, f_weight_decay=0.0
)
#: penalty strength λ of each state's map
STATE_LAM = 0.5
#: the empirical-Bayes step needs this many genes to estimate its two-group model ...
EB_MIN_GENES = 200
#: ... and adds a gene when its posterior probability of responding is at least this
EB_MIN_POSTERIOR = 0.9
#: weights of a gene's three tests in its weighted-Bonferroni p-value: the global mean shift, the best
#: state's shift (Bonferroni over the states) and the spread. Most goes to the global test, the test
#: that a shift of every cell or of a share of them needs (so such a gene is ranked almost as surely
#: as by a t-test alone); a one-type shift is large within its state and a change of spread is large
#: in the spread test, so their tests find them at a smaller share of the level
TEST_WEIGHTS = (0.7, 0.15, 0.15)
#: the weights when the states are the user's labels (``state_key``, e.g. annotated cell types): most
#: of the level goes to the per-state tests, since the question is then which genes move in which
#: labelled type (on the PBMC one-type tasks of ``benchmarks/results/design.md`` the combined ranking
#: then matches a t-test within each type, where the global weight 0.7 ranked 0.09 lower)
LABEL_TEST_WEIGHTS = (0.2, 0.65, 0.15)


@dataclass(frozen=True)
class ConditionalConfig:
    """Settings of :func:`fit_conditional`.

    Parameters
    ----------
    n_states
        Largest number of cell states (Ward clusters); fewer when there are fewer than 100 cells
        per state.
    n_pcs
        Principal components of the state embedding.
    heterogeneity
        Level of Cochran's Q test under which a selected gene moves only in the states where its
        own shift is significant.
    n_knots
        Quantile knots (at levels 0.1 … 0.9) of each state's one-dimensional map.
    min_cells
        Fewest source and target cells a state the fit finds needs to be tested and moved.
    min_label_cells
        The same for a given label (``state_key``): labelled types are often small, and a t-test
        on a few cells of sparse, zero-inflated expression is liberal (on the PBMC tasks of
        ``benchmarks/results/design.md``, 5 let small cell types make false calls).
    empirical_bayes
        Also move, in responding states, genes that an empirical-Bayes two-group model of the
        state's z-values finds likely to respond (by their shrunken shift).
    max_cluster_cells
        At most this many cells (a seeded subsample) are clustered; the others join the nearest
        centroid.
    spread
        Also test each gene for a change of spread (Brown–Forsythe: a Welch test of the absolute
        deviations from each group's median) and combine it with the mean tests. Genes called for
        their spread move in every state, along the direction in which the state's second moments
        grow most.
    weights
        Weights ``(global, state, spread)`` of a gene's tests in its weighted-Bonferroni p-value
        ``min(1, p_global / w_global, K·p_best_state / w_state, p_spread / w_spread)`` (``K`` tested
        states); non-negative, summing to 1, the global weight positive. Without ``spread`` its
        weight goes to the mean tests in proportion. Used for the states the fit finds itself.
    label_weights
        The same weights when the states are given labels (``source_labels``/``target_labels``,
        ``state_key=`` in :func:`~scsparseot.tl.sparse_ot`); default
        ``scsparseot.core.conditional_config.LABEL_TEST_WEIGHTS``.
    min_replicate_cells
        Fewest cells of a state a replicate needs to count as one observation of that state in
        the replicate-level tests (with replicates).
    train
        :class:`~scsparseot.core.TrainConfig` of each moving state's network (default
        ``scsparseot.core.conditional_config.STATE_TRAIN``); ``n_iters=0`` keeps the closed form.
        ``n_iters`` is one target's budget, shared by its moving states in proportion to their
        cells (``scsparseot.core._state_maps.state_budgets``), so that a target's training
        costs about the same however many states move.
    """

    n_states: int = 6
    n_pcs: int = 20
    heterogeneity: float = 0.01
    n_knots: int = 5
    min_cells: int = 5
    empirical_bayes: bool = True
    max_cluster_cells: int = 5000
    spread: bool = True
    weights: tuple[float, float, float] = TEST_WEIGHTS
    label_weights: tuple[float, float, float] = LABEL_TEST_WEIGHTS
    min_label_cells: int = 20
    min_replicate_cells: int = 3
    train: TrainConfig = STATE_TRAIN

    def __post_init__(self) -> None:
        ints = {
            "n_states": 1,
            "n_pcs": 1,
            "n_knots": 2,
            "min_cells": 2,
            "max_cluster_cells": 10,
            "min_replicate_cells": 1,
        }
        for name, low in ints.items():
            check_int(f"ConditionalConfig.{name}", getattr(self, name), low)
        if not 0 < self.heterogeneity < 1:
            msg = f"ConditionalConfig.heterogeneity must be in (0, 1), got {self.heterogeneity!r}."
            raise ValueError(msg)
        for name in ("weights", "label_weights"):
            value = getattr(self, name)
            w = np.asarray(value, dtype=np.float64)
            if (
                w.shape != (3,)
                or not np.all(np.isfinite(w))
                or w.min() < 0
                or w[0] <= 0
                or abs(w.sum() - 1) > 1e-9
            ):
                msg = (
                    f"ConditionalConfig.{name} must be three non-negative weights (global, state, spread) "
                    f"summing to 1 with a positive global weight, got {value!r}."
                )
                raise ValueError(msg)
        if not isinstance(self.train, TrainConfig):
            msg = f"ConditionalConfig.train must be a scsparseot.core.TrainConfig, got {type(self.train).__name__}."
            raise TypeError(msg)

    def labelled(self) -> ConditionalConfig:
        """The settings used when the states are given labels: ``label_weights`` and ``min_label_cells``."""
        return replace(self, weights=self.label_weights, min_cells=self.min_label_cells)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for ``uns`` and JSON); ``train`` is nested."""
        return asdict(self)
