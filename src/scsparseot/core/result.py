"""What a fit returns: one typed, immutable result for every method (as ott-jax's solver outputs).

:class:`MapFit` holds what every method reports: the map, how training ended (``converged``,
``diverged``, ``reason``), its history, the displacements of the source cells and the gene calls
(p-values, their Benjamini–Hochberg adjustment and the selection, each computed once) with the
responder share. :class:`FitResult` is the gene-wise sparse ICNN's (:func:`~scsparseot.core.fit_map`);
:class:`~scsparseot.core.ConditionalFit` the state-conditional map's, with its states. A baseline
map's result is a plain :class:`MapFit` without a map. Readers (``tl``, the benchmarks) take what
they need from it and re-derive nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .conditional_map import ConditionalMap  # noqa: TC001 (resolved at run time by the docs' type hints)
from .map import SparseOTMap  # noqa: TC001
from .responders import normal_interval
from .summary import DisplacementSummary  # noqa: TC001

__all__ = ["STATE_COLUMNS", "ConditionalFit", "FitResult", "MapFit", "NullDesign", "StopReason"]

#: why a fit stopped: its convergence rule, its iteration limit, non-finite values, a λ search's end
#: (``"annealed"``, ``"dimension_met"``, ``"dimension_not_met"``), or no training (``"closed_form"``)
StopReason = Literal[
    "converged", "max_iters", "diverged", "annealed", "dimension_met", "dimension_not_met", "closed_form"
]
#: where the gene p-values come from: control-vs-control maps with the target's size (``"matched"``),
#: control halves (``"halves"``, conservative), the map's own tests (``"tests"``), or none (``"none"``)
NullDesign = Literal["matched", "halves", "tests", "none"]


@dataclass(frozen=True)
class MapFit:
    """Outcome of one fit, whatever the method.

    Attributes
    ----------
    map
        The fitted map (``None`` for a baseline, whose images are all it has).
    lam
        Final penalty strength λ (``nan`` for a baseline).
    seconds
        Wall-clock time of the main fit.
    n_iters
        Training iterations run (summed over the trained networks).
    converged, diverged
        Whether every trained network met its convergence rule; whether any ended on non-finite
        values.
    reason
        Why training stopped (``scsparseot.core.result.StopReason``).
    history
        One array per logged quantity (``step, lam, loss_g, loss_f, dim, err, spa, lr``), one entry
        per evaluation.
    moves
        λ moves of an automatic search (``step, lam, eval, dim, err, accepted, temperature``).
    displacements
        Summary of the displacements of the source cells (sparsified, per gene, per cell).
    p_value, adj_p_value, selected
        Per-gene p-value, its Benjamini–Hochberg adjustment and the selection (``None`` without
        p-values: then ``selected`` comes from the support alone).
    selection_frequency
        Share of stability refits that select each gene (``None`` without refits).
    null_scores
        Gene scores of the control-vs-control null maps the p-values come from.
    null_design
        Where the p-values come from (``scsparseot.core.result.NullDesign``).
    responder_fraction, responder_fraction_se
        Estimated share of target cells that respond, and its standard error.
    source_states, target_states
        State of each source and target cell, where the method has states.
    target_response
        Response score of each target cell (the mean score of its nearest transported source cells,
        :func:`~scsparseot.core.target_response`), where the caller computed it.

    Examples
    --------
    >>> from scsparseot.core import MapFit
    >>> fit = MapFit(responder_fraction=0.3, responder_fraction_se=0.05)
    >>> [round(v, 3) for v in fit.responder_interval]
    [0.202, 0.398]
    >>> fit.reason, fit.map is None
    ('closed_form', True)
    """

    map: SparseOTMap | ConditionalMap | None = None
    lam: float = float("nan")
    seconds: float = 0.0
    n_iters: int = 0
    converged: bool = True
    diverged: bool = False
    reason: StopReason = "closed_form"
    history: dict[str, np.ndarray] = field(default_factory=dict)
    moves: dict[str, np.ndarray] = field(default_factory=dict)
    displacements: DisplacementSummary | None = None
    p_value: np.ndarray | None = None
    adj_p_value: np.ndarray | None = None
    selected: np.ndarray | None = None
    selection_frequency: np.ndarray | None = None
    null_scores: np.ndarray | None = None
    null_design: NullDesign = "none"
    responder_fraction: float | None = None
    responder_fraction_se: float | None = None
    source_states: np.ndarray | None = None
    target_states: np.ndarray | None = None
    target_response: np.ndarray | None = None

    @property
    def responder_interval(self) -> tuple[float, float]:
        """95% normal interval of :attr:`responder_fraction`, clipped to [0, 1] (``nan`` without an error)."""
        if self.responder_fraction is None:
            return float("nan"), float("nan")
        se = np.nan if self.responder_fraction_se is None else self.responder_fraction_se
        return normal_interval(self.responder_fraction, se)


@dataclass(frozen=True)
class FitResult(MapFit):
    """Outcome of a gene-wise sparse ICNN fit (:func:`~scsparseot.core.fit_map`).

    The fields are :class:`MapFit`'s; ``map`` is a :class:`~scsparseot.core.SparseOTMap`.
    """

    map: SparseOTMap | None = None

    @property
    def avg_dim(self) -> float:
        """Average displacement dimension at the last evaluation."""
        return float(self.history["dim"][-1]) if len(self.history.get("dim", ())) else float("nan")

    @property
    def err(self) -> float:
        """Sliced-Wasserstein error at the last evaluation (data units)."""
        return float(self.history["err"][-1]) if len(self.history.get("err", ())) else float("nan")


#: the columns of :attr:`ConditionalFit.states`
STATE_COLUMNS = (
    "state",
    "n_source",
    "n_target",
    "tested",
    "responds",
    "n_moved_genes",
    "trained",
    "n_iters",
    "converged",
    "diverged",
)


@dataclass(frozen=True)
class ConditionalFit(MapFit):
    """Outcome of :func:`~scsparseot.core.fit_conditional`: a :class:`MapFit` with the states.

    Beside :class:`~scsparseot.core.MapFit`'s fields (``map`` is the :class:`~scsparseot.core.ConditionalMap`;
    ``p_value``, ``adj_p_value`` and ``selected`` are the map's own tests and their
    Benjamini–Hochberg selection; ``source_states`` and ``target_states`` the state of every cell;
    ``responder_fraction`` the share of target cells that respond: in each state that moves, the
    mixture proportion of responders among its target cells in the genes it moves
    (:func:`~scsparseot.core.responder_fraction`), weighted by the state's target cells, and
    ``responder_fraction_se`` the states' half-sampling errors, weighted alike and combined as
    independent; ``n_iters``, ``converged``, ``diverged`` and ``reason`` over the trained states):

    Attributes
    ----------
    heterogeneous
        Selected genes whose shift differs between states (they move in some states only).
    states
        One entry per state, columns ``scsparseot.core.result.STATE_COLUMNS`` (cells on each side, whether it was
        tested, responds and trained, its moved genes and its training's iterations and end).
    n_tested_states
        States with enough cells (or replicates) on both sides to be tested.
    state_names
        Name of each state: the given labels, or ``"0"``, ``"1"``, … for states the fit found.
    test_level
        ``"cells"`` or ``"replicates"``: the units the gene tests counted.
    state_genes
        Per state × gene arrays ``(n_states, n_genes)``: ``source_mean`` and ``target_mean``
        (data units), ``shift`` (z-scores of the source cells), ``p_value`` and ``adj_p_value``
        (Benjamini–Hochberg over genes × tested states; ``NaN`` in untested states) and ``moved``.
    composition
        Per state: cells and shares on each side, log2 ratio and its test
        (:func:`~scsparseot.core.composition_test`).
    """

    map: ConditionalMap | None = None
    heterogeneous: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    states: dict[str, np.ndarray] = field(default_factory=dict)
    n_tested_states: int = 0
    state_names: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))
    test_level: str = "cells"
    state_genes: dict[str, np.ndarray] = field(default_factory=dict)
    composition: dict[str, np.ndarray] = field(default_factory=dict)
