"""How far each cell of a state moves: the closed form per state, its trained networks, its responders.

The steps of :func:`~scsparseot.core.fit_conditional` after the gene calls
(:mod:`scsparseot.core._conditional_stats`): :func:`closed_form` (each state's shift, response
direction and one-dimensional map), :func:`state_responders` (the share of responding target cells)
and :func:`train_states` (an ICNN per moving state, started from the closed form).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from ._conditional_stats import two_groups
from ._state_geometry import state_move
from .conditional_config import EB_MIN_GENES, EB_MIN_POSTERIOR
from .fit import finish
from .responders import responder_fraction, responder_fraction_se
from .trainer import Trainer

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._conditional_stats import GlobalTests, StateTests
    from .conditional_config import ConditionalConfig
    from .map import SparseOTMap
    from .result import FitResult
    from .train_config import TrainConfig

__all__ = [
    "ClosedForm",
    "StateTraining",
    "closed_form",
    "state_budgets",
    "state_histories",
    "state_responders",
    "train_states",
]


#: fewest training steps of a moving state (two evaluations at the default ``eval_every``)
MIN_STATE_ITERS = 50
#: each state's potentials start at its closed form, fitted on at most this many of its source cells
START_MAX_CELLS = 2048
#: the start's steps per potential over a target's states (shared as the training steps are), and
#: the fewest of one state
START_STEPS, MIN_START_STEPS = 300, 100


@dataclass(frozen=True)
class ClosedForm:
    """Each state's closed-form map in z-scores (the arrays of :class:`~scsparseot.core.ConditionalMap`).

    Attributes
    ----------
    direction
        Unit response direction per state, ``(n_states, d)`` (zero rows: the state does not move).
    knots, steps, offset
        Quantile knots of the source projections, the move at each knot and the move added to every
        cell, per state.
    extra
        Shrunken shifts of further genes and the part of the mean shift off the direction, per state.
    responds
        Whether the state responds in the heterogeneous genes.
    """

    direction: np.ndarray
    knots: np.ndarray
    steps: np.ndarray
    offset: np.ndarray
    extra: np.ndarray
    responds: np.ndarray

    def moved_genes(self, c: int) -> np.ndarray:
        """Indices of the genes state ``c`` moves."""
        return np.flatnonzero((self.direction[c] != 0) | (self.extra[c] != 0))


def closed_form(
    zx: np.ndarray,
    zy: np.ndarray,
    states: StateTests,
    genes: GlobalTests,
    *,
    heterogeneous: np.ndarray,
    spread: np.ndarray,
    config: ConditionalConfig,
    fdr: float,
) -> ClosedForm:
    """Each state's shift, its direction and the monotone one-dimensional map along it.

    ``heterogeneous`` genes move only where the state responds and their own shift is significant;
    other selected genes move by their global shift everywhere; ``spread`` genes move in every
    state, along the direction in which the state's second moments grow most.
    """
    n_states, d = states.n_states, zx.shape[1]
    direction, extra = np.zeros((n_states, d)), np.zeros((n_states, d))
    knots = np.tile(np.linspace(-1.0, 1.0, config.n_knots), (n_states, 1))
    steps, offset = np.zeros((n_states, config.n_knots)), np.zeros(n_states)
    responds = np.zeros(n_states, dtype=bool)
    for c in range(n_states):
        rx, ry = states.source_states == c, states.target_states == c
        b, responds[c] = _state_shift(c, states, genes.shift, heterogeneous, fdr)
        if config.empirical_bayes and d >= EB_MIN_GENES and responds[c] and np.any(heterogeneous & (b != 0)):
            extra[c] = _shrunken_shifts(states.shifts[c], states.ses[c], b)
        moved = (b != 0) | spread
        if not moved.any() or rx.sum() < 2:
            continue
        target = ry.sum() >= config.min_cells
        u, shift, off_direction = _state_direction(
            zx[rx], zy[ry], b, moved, second_moments=spread.any() and target
        )
        extra[c] += off_direction
        direction[c] = u
        knots[c], steps[c], offset[c] = _state_knots(
            zx[rx] @ u, zy[ry] @ u if target else None, shift, knots[c], steps[c], config.n_knots
        )
    return ClosedForm(direction, knots, steps, offset, extra, responds)


def _state_shift(
    c: int, states: StateTests, shift: np.ndarray, heterogeneous: np.ndarray, fdr: float
) -> tuple[np.ndarray, bool]:
    """State ``c``'s shift of every gene (z-scores) and whether it responds in the heterogeneous genes.

    It responds when their shifts there are jointly significant (χ² of their t statistics,
    Bonferroni over states); then each heterogeneous gene moves where its own shift is.
    """
    k = states.n_tested
    t = states.shifts[c] / states.ses[c]
    responds = c in states.tested and (
        stats.chi2.sf(np.sum(t[heterogeneous] ** 2), max(int(heterogeneous.sum()), 1)) <= fdr / k
    )
    global_shift = np.where(states.selected, shift, 0.0)
    if responds:
        local = np.where(states.p_state[c] <= fdr / k, states.shifts[c], 0.0)
        return np.where(heterogeneous, local, global_shift), True
    return np.where(heterogeneous, 0.0, global_shift), False


def _shrunken_shifts(shifts: np.ndarray, ses: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Shifts of the genes not moved by ``b`` that an empirical-Bayes two-group model finds likely to respond.

    Genes with posterior probability ≥ :data:`~scsparseot.core.conditional_config.EB_MIN_POSTERIOR`
    move by their shrunken shift; every other gene by 0.
    """
    post, shrink = two_groups(shifts / ses)
    add = (post >= EB_MIN_POSTERIOR) & (b == 0)
    out = np.zeros_like(shifts)
    out[add] = post[add] * shrink * shifts[add]
    return out


def _state_direction(
    zx: np.ndarray, zy: np.ndarray, b: np.ndarray, moved: np.ndarray, *, second_moments: bool
) -> tuple[np.ndarray, float, np.ndarray]:
    """A state's unit direction ``u``, its shift along it, and the part of ``b`` off it.

    With ``second_moments``: the direction in which the state's second moments grow most among the
    ``moved`` genes (a mean shift ``b`` alone gives ``b / ‖b‖``); else ``b / ‖b‖``.
    """
    if not second_moments:
        shift = float(np.linalg.norm(b))
        if shift == 0.0:  # only spread genes, in a state too small to estimate their direction: no move
            return np.zeros_like(b), 0.0, np.zeros_like(b)
        return b / shift, shift, np.zeros_like(b)
    cols = np.flatnonzero(moved)
    centre = zx[:, cols].mean(0)
    ax, ay = zx[:, cols] - centre, zy[:, cols] - centre
    _, vecs = np.linalg.eigh(ay.T @ ay / len(ay) - ax.T @ ax / len(ax))
    u = np.zeros_like(b)
    u[cols] = vecs[:, -1] if vecs[:, -1] @ b[cols] >= 0 else -vecs[:, -1]
    shift = float(u @ b)
    return u, shift, b - shift * u


def _state_knots(
    sx: np.ndarray, sy: np.ndarray | None, shift: float, knots: np.ndarray, steps: np.ndarray, n_knots: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The monotone rearrangement of the source projections ``sx`` onto the target's ``sy``.

    Knots at the quantile levels 0.1 … 0.9, linear between them, centred on the mean ``shift``;
    without target projections (or with tied knots) every cell moves by ``shift`` (the given
    ``knots`` and ``steps`` are kept).
    """
    if sy is None:
        return knots, steps, shift
    levels = np.linspace(0.1, 0.9, n_knots)
    qx, qy = np.quantile(sx, levels), np.quantile(sy, levels)
    if not np.all(np.diff(qx) > 0):
        return knots, steps, shift
    return qx, qy - qx, shift - float(np.interp(sx, qx, qy - qx).mean())


def state_responders(
    zx: np.ndarray, zy: np.ndarray, states: StateTests, form: ClosedForm, *, min_cells: int, seed: int
) -> tuple[float, float]:
    """Share of target cells that respond and its standard error, over the states that move.

    Each moving state's share (:func:`_state_share`) is weighted by its target cells; the states'
    errors are weighted alike and combined as independent.
    """
    share = share_var = 0.0
    for c in range(states.n_states):
        cols = form.moved_genes(c)
        rx, ry = states.source_states == c, states.target_states == c
        if cols.size and min(rx.sum(), ry.sum()) >= min_cells:
            rho, se = _state_share(zx[rx], zy[ry], cols, form.direction[c], seed)
            share += ry.sum() * rho
            share_var += (ry.sum() * se) ** 2 if np.isfinite(se) else 0.0
    n = max(len(states.target_states), 1)
    return float(share / n), float(np.sqrt(share_var) / n)


def _state_share(
    zx: np.ndarray, zy: np.ndarray, cols: np.ndarray, direction: np.ndarray, seed: int
) -> tuple[float, float]:
    """A state's responder share and its standard error, the larger of two estimates.

    One estimate looks at the state's moved genes, the other along its response direction, where
    the response stands out most: a shift or a two-state split of 20 genes by 0.4–1.2 SD each
    separates responders by about 3.6 SD there but by 0.8 SD per gene, which nearest neighbours in
    20 dimensions blur (they counted 0.8 of responding cells where all responded). Genes that change
    spread each in their own cells have no common direction; the moved genes see them. Both
    estimates are near 0 without responders and run low where responders overlap control cells: a
    mixture proportion is identifiable only up to the part of the treated cells that no control
    cell resembles (with every gene's spread widened by 0.4–1.2 SD, 0.72–0.85 where all moved).
    """
    pairs = [(zx[:, cols], zy[:, cols])]
    if np.any(direction):
        pairs.append(((zx @ direction)[:, None], (zy @ direction)[:, None]))
    estimates = [responder_fraction(a, b, seed=seed) for a, b in pairs]
    best = int(np.argmax(estimates))  # the first of equal estimates, as max() picked
    return estimates[best], responder_fraction_se(*pairs[best], seed=seed)


@dataclass(frozen=True)
class StateTraining:
    """One state's trained network: its genes, the map, and how training went."""

    state: int
    genes: np.ndarray
    map: SparseOTMap
    fit: FitResult


def train_states(
    zx: np.ndarray,
    zy: np.ndarray,
    states: StateTests,
    form: ClosedForm,
    *,
    support_tol: np.ndarray,
    config: ConditionalConfig,
    penalty: Any,
    lam: float,
    device: str,
    seed: int,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> list[StateTraining]:
    """Train an ICNN on each moving state's genes, started from its closed form.

    ``support_tol`` is in z-scores. Both potentials are first fitted to the closed form and its
    inverse (:meth:`~scsparseot.core.Trainer.start_from`), then trained on the state's cells
    (seed ``seed + c`` for state ``c``). ``callback`` gets each logged record with its ``state``
    and the ``step`` counted over all states trained so far.
    """
    out: list[StateTraining] = []
    moving = {}
    for c in range(states.n_states):
        cols = form.moved_genes(c)
        rx, ry = states.source_states == c, states.target_states == c
        if cols.size and min(rx.sum(), ry.sum()) >= max(config.min_cells, 2):
            moving[c] = (cols, rx, ry)
    budget = state_budgets(config.train, {c: int(rx.sum() + ry.sum()) for c, (_, rx, ry) in moving.items()})
    for c, (cols, rx, ry) in moving.items():
        rows = np.flatnonzero(rx)
        source = zx[np.ix_(rows, cols)]
        move = state_move(
            zx[rows], form.direction[c], form.knots[c], form.steps[c], form.offset[c], form.extra[c]
        )
        trainer = Trainer(
            source,
            zy[ry][:, cols],
            penalty=penalty,
            lam=float(lam),
            config=budget[c][0],
            support_tol=support_tol[cols],
            seed=seed + c,
            device=device,
        )
        t0 = time.perf_counter()
        trainer.start_from(
            source + move[:, cols], n_steps=budget[c][1], max_cells=START_MAX_CELLS, seed=seed + c
        )
        report = None
        if callback is not None:
            done = sum(t.fit.n_iters for t in out)

            def report(record: dict[str, float], c: int = c, done: int = done) -> None:
                callback({**record, "step": done + record["step"], "state": c})

        res = finish(
            trainer, trainer.train(trainer.config.n_iters, callback=report), seconds=time.perf_counter() - t0
        )
        out.append(StateTraining(state=c, genes=cols, map=res.map.to("cpu"), fit=res))
    return out


def state_budgets(train: TrainConfig, cells: dict[int, int]) -> dict[int, tuple[TrainConfig, int]]:
    """Each state's trainer settings and start steps: the states share the target's budget by their cells.

    A target's training then costs about ``train.n_iters`` steps (and :data:`START_STEPS` steps of
    fitting the start) however many states move (a shift of every cell moves every state): a state
    with a share ``s`` of the moving cells gets ``s · n_iters`` steps, at least
    :data:`MIN_STATE_ITERS` (fewer with a smaller ``n_iters``), and ``s · START_STEPS`` start
    steps, at least :data:`MIN_START_STEPS`; it stops early only after ``min_iters`` scaled alike.
    The learning rate's cosine decay runs over the state's own steps.
    """
    total = max(sum(cells.values()), 1)
    out = {}
    for c, n in cells.items():
        share = n / total
        n_iters = int(
            min(train.n_iters, max(min(MIN_STATE_ITERS, train.n_iters), round(train.n_iters * share)))
        )
        min_iters = int(min(n_iters, max(1, round(train.min_iters * n_iters / max(train.n_iters, 1)))))
        start = int(max(MIN_START_STEPS, round(START_STEPS * share)))
        out[c] = (replace(train, n_iters=n_iters, min_iters=min_iters), start)
    return out


def state_histories(trained: list[StateTraining]) -> dict[str, np.ndarray]:
    """The trained states' histories, one after the other, with a ``state`` column (empty without training)."""
    if not trained:
        return {}
    keys = list(trained[0].fit.history)
    out = {k: np.concatenate([t.fit.history[k] for t in trained]) for k in keys}
    out["state"] = np.concatenate([np.full(len(t.fit.history[keys[0]]), t.state) for t in trained])
    return out
