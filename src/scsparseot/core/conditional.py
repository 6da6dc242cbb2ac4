"""State-conditional sparse OT map: which genes move, in which cells, given each cell's state.

A gene-wise map moves gene ``j`` by a function of ``x_j`` alone, so it cannot move monocytes and leave
B cells alone in a gene both express alike, nor tell the share of cells that switched state from the
rest. This map conditions on the cell's *state* and moves only the genes that respond there:

* **States.** Source and target cells are embedded together by PCA (scikit-learn's, as in
  :func:`scanpy.pp.pca`) of the
  genes that do not respond (a first pass finds the responding genes and leaves them out, so the drug
  does not move the embedding) and grouped by Ward clustering; a new cell joins the state of the
  nearest centroid. The state of a cell is read from genes the map never moves, so ``T`` is a
  conditional map: it keeps the cell's identity and moves the responding genes given it.
* **Which genes, where.** In z-scores of the source cells, each gene gets a Welch test of its mean
  shift over all cells and within every state (Student's t with Welch–Satterthwaite degrees of
  freedom), a heterogeneity test (Cochran's Q) across states, and a Brown–Forsythe test of its
  spread (a Welch test of the absolute deviations from each group's median). Its p-value is the
  weighted Bonferroni combination of the global p-value, the Bonferroni-corrected smallest state
  p-value and the spread p-value (weights 0.7, 0.15 and 0.15: :data:`TEST_WEIGHTS`);
  Benjamini–Hochberg at level ``fdr`` selects genes. A selected gene whose shift differs between states moves only in the states that
  respond (the χ² of the heterogeneous genes' t statistics there is significant, Bonferroni over
  states) and there only where its own shift is significant (Bonferroni over states); one whose
  shift is homogeneous moves in every state by the global shift; one called for its spread alone
  moves in every state. In a state that responds, genes below the selection threshold but likely to
  respond under an empirical-Bayes two-group model of that state's z-values (posterior probability
  ≥ 0.9; only with at least 200 genes, so that the model can be estimated) also move, by their
  shrunken shift.
* **How far each cell moves.** In state ``c`` with moved genes ``S`` and shift ``b`` the map is the
  one-dimensional OT map along the response direction ``u = b / ‖b‖`` (with genes called for their
  spread: the direction in which the state's second moments grow most) (a "spiked" transport map,
  Niles-Weed & Rigollet 2022): ``T(x) = x + m(⟨u, x_S⟩) u`` with ``s + m(s)`` the monotone
  rearrangement of the source onto the target projections (a few quantile knots, linear between them,
  centred on the mean shift). For a pure mean shift every cell of the state moves by ``b``; when only a
  share of the state's cells respond (a state switch), the cells at the far end of the direction move
  most, so the treated cells that responded are the ones the map reaches.

* **Training.** In each state that moves, an input-convex neural network on the state's moved
  genes is trained in PyTorch by the minimax of :mod:`scsparseot.core.trainer` (with the sparsity
  penalty), starting from the closed form above: both potentials are first fitted to it and its
  inverse (:meth:`~scsparseot.core.Trainer.start_from`), then trained on the state's cells. The
  closed form is the start, the trained network the map (``n_iters=0`` keeps the closed form).

For each state the closed form is the gradient of ``½‖x‖² + M(⟨u, x_S⟩) + ⟨e, x⟩`` with ``M' = m``
and ``1 + m' ≥ 0`` (so it is convex), and the trained map the gradient of an ICNN in the moved
genes: an optimal-transport (Brenier) map between the state's source and target cells in the
moved genes, exactly zero in every other gene and every non-responding state. Across states the
potential is convex in the moved genes given the state (a partially input-convex map whose
context is the cell's state).
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .._warnings import find_stack_level
from ._conditional_stats import StateTests, cochran_q, find_states, global_tests
from ._replicate_stats import ReplicateDesign, group_means
from ._rows import check_cells
from ._state_maps import (
    ClosedForm,
    StateTraining,
    closed_form,
    state_histories,
    state_responders,
    train_states,
)
from .calibration import benjamini_hochberg
from .composition import composition_test
from .conditional_config import STATE_LAM, ConditionalConfig
from .conditional_map import ConditionalMap
from .result import ConditionalFit
from .source_side import SourceSide, prepare_source, standardise
from .summary import summarise_displacements

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ConditionalConfig", "ConditionalFit", "ConditionalMap", "fit_conditional"]


def fit_conditional(
    x: np.ndarray | SourceSide,
    y: np.ndarray,
    *,
    fdr: float = 0.05,
    config: ConditionalConfig | None = None,
    support_tol: np.ndarray | float | None = None,
    train: bool = True,
    penalty: Any = "stvs",
    lam: float = STATE_LAM,
    device: str = "cpu",
    seed: int = 0,
    genes: list[str] | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
    source_labels: np.ndarray | None = None,
    target_labels: np.ndarray | None = None,
    source_replicates: np.ndarray | None = None,
    target_replicates: np.ndarray | None = None,
) -> ConditionalFit:
    """Fit a state-conditional sparse OT map from ``x`` (source cells) to ``y`` (target cells).

    Parameters
    ----------
    x, y
        Source and target cells, ``(n, d)`` and ``(m, d)``, in data units (e.g. log-normalised
        expression); dense arrays or scipy sparse matrices (densified). ``x`` may instead be a
        :func:`~scsparseot.core.prepare_source` of the source cells, computed once for many
        targets (a screen); the fit is then the same as on the cells with ``seed=source.seed``.
    fdr
        Benjamini–Hochberg level of the gene selection, in (0, 1).
    config
        :class:`ConditionalConfig` (states, tests, the state networks' :class:`~scsparseot.core.TrainConfig`).
    support_tol
        Per-gene tolerance in data units (default 0.1 × the gene's standard deviation in ``x``).
    train
        Train each moving state's map; ``False`` (or ``config.train.n_iters == 0``) keeps the
        closed form.
    penalty, lam
        Sparsity penalty and its strength λ of the state maps.
    device
        Device of the state maps' training (``"cpu"``, ``"cuda"``; ``"auto"`` picks CUDA when
        available).
    seed
        Seed of the clustering's subsample (and, offset by the state, of each state map) and, given
        the cells, of the embedding's PCA (``prepare_source(x, seed=seed)``).
    genes
        Gene names stored with the map.
    callback
        Called with every logged training record (``step`` counted over the states, ``state``,
        ``lam``, ``dim``, ``err``, ...), e.g. to drive a progress bar.
    source_labels, target_labels
        The state of every source and target cell (e.g. annotated cell types), used as the map's
        states instead of the clusters it finds, with ``config.labelled()``'s settings (test weights
        ``label_weights``); a label with fewer than ``config.min_label_cells`` cells on either
        side is reported (``states``), not tested and not moved.
    source_replicates, target_replicates
        The replicate (well, plate, lane, donor) of every source and target cell. With at least
        2 replicates on each side the genes are tested across replicates
        (``scsparseot.core._replicate_stats``), blocked on labels that hold cells on both sides;
        with fewer, a warning, and the cells are tested.

    Returns
    -------
    ConditionalFit
        The map, per-gene p-values and selection, the state of every cell, the displacements of the
        source cells and how each state's training went.

    Examples
    --------
    >>> import numpy as np
    >>> from scsparseot.core import fit_conditional
    >>> rng = np.random.default_rng(0)
    >>> def cells(n):  # two cell types told apart by genes 0-4
    ...     a = rng.normal(size=(n, 20))
    ...     a[: n // 2, :5] += 4.0
    ...     return a
    >>> x, y = cells(400), cells(400)
    >>> y[:200, 10] += 1.5  # the drug moves gene 10 in the first type only
    >>> fit = fit_conditional(x, y)
    >>> np.flatnonzero(fit.selected).tolist()
    [10]
    >>> d = fit.map.displacement(x)
    >>> bool(abs(d[:200, 10].mean()) > 1.0 and np.all(d[200:, 10] == 0))
    True
    """
    t0 = time.perf_counter()
    config = config or ConditionalConfig()
    if not 0 < fdr < 1:
        msg = f"fdr must be in (0, 1), got {fdr!r}."
        raise ValueError(msg)
    source = _source(x, config, seed)
    x, y = source.x, _check_target(y, source)
    d = x.shape[1]
    labels, names = _state_codes(source_labels, target_labels, x.shape[0], y.shape[0])
    if names is not None:  # labelled types: their own test weights and fewest cells
        config = config.labelled()
    replicates = _replicates(source_replicates, target_replicates, x.shape[0], y.shape[0])
    mean, sd, zx = source.mean, source.sd, source.zx
    zy = standardise(y, mean, sd)
    if names is None:
        n_states = int(max(1, min(config.n_states, (x.shape[0] + y.shape[0]) // 100)))
    else:
        n_states = len(names)
    states = find_states(
        source,
        y,
        zy,
        global_tests(zx, zy, spread=config.spread, source=source),
        config=config,
        n_states=n_states,
        fdr=fdr,
        seed=seed,
        labels=labels,
        replicates=replicates,
    )
    if names is not None:
        _warn_small_states(states, names, config.min_cells)
    if replicates is not None and states.level == "cells":
        _warn(
            "no state has replicates enough for a replicate-level test; the cells were tested, as if independent"
        )
    heterogeneous = states.selected & (cochran_q(states) <= config.heterogeneity)
    # genes called for a change of spread, whose mean shifts alone would not be called, move in every state
    spread = (
        states.selected & (benjamini_hochberg(states.p_mean) > fdr)
        if config.spread
        else np.zeros(d, dtype=bool)
    )
    form = closed_form(
        zx, zy, states, states.overall, heterogeneous=heterogeneous, spread=spread, config=config, fdr=fdr
    )
    share, share_se = state_responders(zx, zy, states, form, min_cells=config.min_cells, seed=seed)
    tol = 0.1 * sd if support_tol is None else np.broadcast_to(np.asarray(support_tol, np.float64), (d,))
    trained = []
    if train and config.train.n_iters > 0:
        trained = train_states(
            zx,
            zy,
            states,
            form,
            support_tol=tol / sd,
            config=config,
            penalty=penalty,
            lam=lam,
            device=device,
            seed=seed,
            callback=callback,
        )
    cmap = _conditional_map(mean, sd, states, form, tol, genes, trained, names)
    displacement = cmap.displacement(x, states=states.source_states)
    seconds = time.perf_counter() - t0
    return ConditionalFit(
        map=cmap,
        lam=float(lam),
        seconds=seconds,
        **_training_outcome(trained),
        history=state_histories(trained),
        displacements=summarise_displacements(x, displacement, tol, y=y),
        p_value=states.p_value,
        adj_p_value=states.adj_p_value,
        selected=states.selected,
        null_design="tests",
        responder_fraction=share,
        responder_fraction_se=share_se,
        source_states=states.source_states,
        target_states=states.target_states,
        heterogeneous=heterogeneous,
        states=_state_table(states, form, trained),
        n_tested_states=len(states.tested),
        state_names=_names(names, n_states),
        test_level=states.level,
        state_genes=_state_genes(x, y, states, cmap),
        composition=_composition(
            states,
            _names(names, n_states),
            source_replicates,
            target_replicates,
            fdr,
            labelled=names is not None,
        ),
    )


def _source(x: Any, config: ConditionalConfig, seed: int) -> SourceSide:
    """The source's share of the fit: ``x`` itself when prepared, else :func:`prepare_source` of the cells."""
    if not isinstance(x, SourceSide):
        return prepare_source(x, config=config, seed=seed)
    if x.n_pcs != config.n_pcs:
        msg = (
            f"The source was prepared with n_pcs={x.n_pcs} but the fit's config has n_pcs={config.n_pcs}; "
            "prepare it with the same config (prepare_source(x, config=config))."
        )
        raise ValueError(msg)
    return x


def _check_target(y: Any, source: SourceSide) -> np.ndarray:
    """Target cells as a finite 2-D array (sparse input densified) with the source's genes."""
    # the trainer's input check: finite 2-D cells × genes, at least 2 cells and 1 gene
    y = check_cells("target data", y.toarray() if hasattr(y, "toarray") else y)
    if source.shape[1] != y.shape[1]:
        msg = f"Source and target have different numbers of genes: {source.shape[1]} and {y.shape[1]}."
        raise ValueError(msg)
    return y


def _state_codes(
    source: np.ndarray | None, target: np.ndarray | None, n_x: int, n_y: int
) -> tuple[tuple[np.ndarray, np.ndarray] | None, list[str] | None]:
    """State codes of the given labels (sorted label order) and the labels' names; ``(None, None)`` without."""
    if source is None and target is None:
        return None, None
    if source is None or target is None:
        msg = "Give both source_labels and target_labels, or neither."
        raise ValueError(msg)
    source, target = _labels("source_labels", source, n_x), _labels("target_labels", target, n_y)
    names, codes = np.unique(np.r_[source, target], return_inverse=True)
    return (codes[:n_x], codes[n_x:]), names.tolist()


def _replicates(
    source: np.ndarray | None, target: np.ndarray | None, n_x: int, n_y: int
) -> ReplicateDesign | None:
    """The replicate design of the given labels; ``None`` (with a warning) with fewer than 2 replicates on a side."""
    if source is None and target is None:
        return None
    if source is None or target is None:
        msg = "Give both source_replicates and target_replicates, or neither."
        raise ValueError(msg)
    design = ReplicateDesign.from_labels(
        _labels("source_replicates", source, n_x), _labels("target_replicates", target, n_y)
    )
    if not design.usable:
        _warn(
            f"{design.n_source} source and {design.n_target} target replicate(s): a replicate-level test "
            "needs at least 2 on each side; the cells were tested, as if independent"
        )
        return None
    return design


def _labels(name: str, labels: np.ndarray, n: int) -> np.ndarray:
    """Labels as strings, one per cell, none missing."""
    labels = np.asarray(labels, dtype=object)
    if labels.shape != (n,):
        msg = f"{name} has shape {labels.shape}; expected one label per cell ({n},)."
        raise ValueError(msg)
    missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in labels])
    if missing.any():
        msg = f"{name} has {int(missing.sum())} missing label(s); give every cell a label."
        raise ValueError(msg)
    return labels.astype(str)


def _warn_small_states(states: StateTests, names: list[str], min_cells: int) -> None:
    """Warn about the labels with too few cells (or replicates) on a side to be tested."""
    ns = np.bincount(states.source_states, minlength=len(names))
    nt = np.bincount(states.target_states, minlength=len(names))
    small = [
        f"{names[c]!r} ({ns[c]} source, {nt[c]} target)" for c in range(len(names)) if c not in states.tested
    ]
    if small:
        what = "cells" if states.level == "cells" else f"cells, or replicates with {min_cells}+ cells"
        _warn(
            f"{len(small)} state(s) have too few {what} on a side to be tested (at least {min_cells} cells "
            f"each): {', '.join(small[:10])}{' …' if len(small) > 10 else ''}; they are reported in the "
            "composition and state tables, not tested and not moved"
        )


def _composition(
    states: StateTests,
    names: np.ndarray,
    source_replicates: Any,
    target_replicates: Any,
    fdr: float,
    *,
    labelled: bool,
) -> dict[str, np.ndarray]:
    """:func:`~scsparseot.core.composition_test` of the states, across replicates where the genes were tested so.

    With ``labelled`` states (the user's labels), warns when a state's share changed significantly
    by the test on cells, which assumes independent cells (the shares of states the fit found
    itself are a description, and move with any response that crosses their borders).
    """
    reps = (source_replicates, target_replicates) if states.level == "replicates" else (None, None)
    comp = composition_test(states.source_states, states.target_states, len(names), *reps)
    changed = np.flatnonzero(comp["adj_p_value"] <= fdr)
    if labelled and comp["test"][0] == "cells" and changed.size:
        c = changed[np.argmax(np.abs(comp["log2_ratio"][changed]))]
        _warn(
            f"the share of {changed.size} state(s) changed (largest: {str(names[c])!r}, log2 ratio "
            f"{comp['log2_ratio'][c]:.2f}) by Fisher's test on cells, which assumes independent cells; "
            "give the cells' replicates (replicate_key=) to test across replicates. The gene tests compare "
            "cells within each state, so the change of mix itself is not called"
        )
    return comp


def _names(names: list[str] | None, n_states: int) -> np.ndarray:
    """The states' names: the labels, or ``"0"``, ``"1"``, … for the states the fit found."""
    return np.asarray(names if names is not None else [str(c) for c in range(n_states)], dtype=str)


def _warn(message: str) -> None:
    warnings.warn(message[0].upper() + message[1:] + ".", UserWarning, stacklevel=find_stack_level())


def _state_genes(
    x: np.ndarray, y: np.ndarray, states: StateTests, cmap: ConditionalMap
) -> dict[str, np.ndarray]:
    """Per state × gene: the means of each side (data units), the shift (z-scores), p-values and what moves.

    ``adj_p_value`` is Benjamini–Hochberg over the genes × tested states (``NaN`` in untested states);
    ``moved`` is where the map moves the gene in the state.
    """
    n = states.n_states
    mean_x = group_means(x, states.source_states, n)[0]
    mean_y = group_means(y, states.target_states, n)[0]
    tested = np.isin(np.arange(n), states.tested)
    p = np.where(tested[:, None], states.p_state, np.nan)
    adj = np.full_like(p, np.nan)
    if tested.any():
        adj[tested] = benjamini_hochberg(p[tested].ravel()).reshape(p[tested].shape)
    moved = (cmap.direction != 0) | (cmap.extra != 0)
    for c, (cols, _) in cmap.state_maps.items():
        moved[c] = False
        moved[c, cols] = True
    return {
        "source_mean": mean_x.astype(np.float32),
        "target_mean": mean_y.astype(np.float32),
        "shift": states.shifts.astype(np.float32),
        "p_value": p,
        "adj_p_value": adj,
        "moved": moved,
    }


def _conditional_map(
    mean: np.ndarray,
    sd: np.ndarray,
    states: StateTests,
    form: ClosedForm,
    tol: np.ndarray,
    genes: list[str] | None,
    trained: list[StateTraining],
    state_names: list[str] | None,
) -> ConditionalMap:
    """The fitted map: z-score units, the state embedding, each state's closed form and trained network."""
    return ConditionalMap(
        mean=mean,
        sd=sd,
        pca_mean=states.pca_mean,
        pca_components=states.components,
        centroids=states.centroids,
        direction=form.direction,
        knots=form.knots,
        steps=form.steps,
        offset=form.offset,
        extra=form.extra,
        support_tol=tol,
        genes=genes,
        state_maps={t.state: (t.genes, t.map) for t in trained},
        state_names=state_names,
    )


def _training_outcome(trained: list[StateTraining]) -> dict[str, Any]:
    """``n_iters``, ``converged``, ``diverged`` and ``reason`` over the trained states (``"closed_form"`` without)."""
    if not trained:
        return {"n_iters": 0, "converged": True, "diverged": False, "reason": "closed_form"}
    converged = all(t.fit.converged for t in trained)
    diverged = any(t.fit.diverged for t in trained)
    return {
        "n_iters": sum(t.fit.n_iters for t in trained),
        "converged": converged,
        "diverged": diverged,
        "reason": "diverged" if diverged else ("converged" if converged else "max_iters"),
    }


def _state_table(states: StateTests, form: ClosedForm, trained: list[StateTraining]) -> dict[str, np.ndarray]:
    """One entry per state: the columns ``scsparseot.core.result.STATE_COLUMNS``."""
    n = states.n_states
    by_state = {t.state: t.fit for t in trained}
    fits = [by_state.get(c) for c in range(n)]
    return {
        "state": np.arange(n),
        "n_source": np.bincount(states.source_states, minlength=n),
        "n_target": np.bincount(states.target_states, minlength=n),
        "tested": np.isin(np.arange(n), states.tested),
        "responds": form.responds.copy(),
        "n_moved_genes": np.array([form.moved_genes(c).size for c in range(n)]),
        "trained": np.array([f is not None for f in fits]),
        "n_iters": np.array([0 if f is None else f.n_iters for f in fits]),
        "converged": np.array([f is None or f.converged for f in fits]),
        "diverged": np.array([f is not None and f.diverged for f in fits]),
    }
