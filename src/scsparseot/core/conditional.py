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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from .._checks import check_int
from ._conditional_stats import _embed_and_cluster, _two_groups, _two_sided, _welch
from ._rows import check_cells
from ._scale import floored_sd
from .calibration import benjamini_hochberg
from .conditional_map import ConditionalMap, _closed_form
from .fit import finish
from .responders import responder_fraction, responder_fraction_se
from .trainer import TrainConfig, Trainer

__all__ = ["ConditionalConfig", "ConditionalFit", "ConditionalMap", "fit_conditional"]

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
        Fewest source and target cells a state needs to be tested and moved.
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
        weight goes to the mean tests in proportion.
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

    def __post_init__(self) -> None:
        ints = {"n_states": 1, "n_pcs": 1, "n_knots": 2, "min_cells": 2, "max_cluster_cells": 10}
        for name, low in ints.items():
            check_int(f"ConditionalConfig.{name}", getattr(self, name), low)
        if not 0 < self.heterogeneity < 1:
            msg = f"ConditionalConfig.heterogeneity must be in (0, 1), got {self.heterogeneity!r}."
            raise ValueError(msg)
        w = np.asarray(self.weights, dtype=np.float64)
        if (
            w.shape != (3,)
            or not np.all(np.isfinite(w))
            or w.min() < 0
            or w[0] <= 0
            or abs(w.sum() - 1) > 1e-9
        ):
            msg = (
                "ConditionalConfig.weights must be three non-negative weights (global, state, spread) "
                f"summing to 1 with a positive global weight, got {self.weights!r}."
            )
            raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for ``uns`` and JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class ConditionalFit:
    """Outcome of :func:`fit_conditional`.

    Attributes
    ----------
    map
        The fitted :class:`ConditionalMap`.
    p_value, adj_p_value
        Per-gene p-value of a shift anywhere (globally or in a state) and its Benjamini–Hochberg
        adjustment; ``adj_p_value ≤ fdr`` selects the gene.
    heterogeneous
        Selected genes whose shift differs between states (they move in some states only).
    source_states, target_states
        State of each source and target cell.
    responder_fraction
        Estimated share of target cells that respond: in each state that moves, the mixture
        proportion of responders among its target cells in the genes it moves
        (:func:`~scsparseot.core.responder_fraction`), weighted by the state's target cells.
    responder_fraction_se
        Its standard error: the states' half-sampling errors, weighted alike and combined as
        independent.
    seconds
        Wall-clock time of the fit.
    """

    map: ConditionalMap
    p_value: np.ndarray
    adj_p_value: np.ndarray
    heterogeneous: np.ndarray
    source_states: np.ndarray
    target_states: np.ndarray
    responder_fraction: float = 0.0
    responder_fraction_se: float = 0.0
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


def fit_conditional(
    x: np.ndarray,
    y: np.ndarray,
    *,
    fdr: float = 0.05,
    config: ConditionalConfig | None = None,
    support_tol: np.ndarray | float | None = None,
    train: bool = True,
    penalty: Any = "stvs",
    lam: float = STATE_LAM,
    train_config: TrainConfig | None = None,
    device: str = "cpu",
    seed: int = 0,
    genes: list[str] | None = None,
) -> ConditionalFit:
    """Fit a state-conditional sparse OT map from ``x`` (source cells) to ``y`` (target cells).

    Parameters
    ----------
    x, y
        Source and target cells, ``(n, d)`` and ``(m, d)``, in data units (e.g. log-normalised
        expression); dense arrays or scipy sparse matrices (densified).
    fdr
        Benjamini–Hochberg level of the gene selection.
    config
        :class:`ConditionalConfig`.
    support_tol
        Per-gene tolerance in data units (default 0.1 × the gene's standard deviation in ``x``).
    train
        Train each moving state's map; ``False`` (or ``train_config.n_iters == 0``) keeps the
        closed form.
    penalty, lam
        Sparsity penalty and its strength λ of the state maps.
    train_config
        :class:`~scsparseot.core.TrainConfig` of the state maps (default ``scsparseot.core.conditional.STATE_TRAIN``).
    device
        Device of the state maps' training (``"cpu"``, ``"cuda"``; ``"auto"`` picks CUDA when
        available).
    seed
        Seed of the embedding's subsample and PCA (and, offset by the state, of each state map).
    genes
        Gene names stored with the map.

    Returns
    -------
    ConditionalFit
        The map, per-gene p-values and selection, and the state of every cell.

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
    >>> np.flatnonzero(fit.adj_p_value <= 0.05).tolist()
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
    # the trainer's input check: finite 2-D cells × genes, at least 2 cells and 1 gene
    x = check_cells("source data", x.toarray() if hasattr(x, "toarray") else x)
    y = check_cells("target data", y.toarray() if hasattr(y, "toarray") else y)
    if x.shape[1] != y.shape[1]:
        msg = f"Source and target have different numbers of genes: {x.shape[1]} and {y.shape[1]}."
        raise ValueError(msg)
    n_x, d = x.shape
    mean, sd = x.mean(0, dtype=np.float64), floored_sd(x.std(0, dtype=np.float64))
    zx, zy = ((x - mean) / sd).astype(np.float32), ((y - mean) / sd).astype(np.float32)
    b_all, se_all, df_all = _welch(zx, zy)
    p_all = _two_sided(b_all / se_all, df_all)
    if config.spread:
        # Brown–Forsythe: a Welch test of the absolute deviations from each group's median
        g_spread, se_spread, df_spread = _welch(np.abs(zx - np.median(zx, 0)), np.abs(zy - np.median(zy, 0)))
        p_spread = _two_sided(g_spread / se_spread, df_spread)
    n_states = int(max(1, min(config.n_states, (n_x + y.shape[0]) // 100)))

    # two passes: the second embeds the cells without the genes the first found responding
    keep = np.ones(d, dtype=bool)
    for _ in range(2):
        lx, ly, pca_mean, components, centroids = _embed_and_cluster(x, y, keep, config, n_states, seed)
        tested = [c for c in range(n_states) if min((lx == c).sum(), (ly == c).sum()) >= config.min_cells]
        shifts, ses, dfs = np.zeros((n_states, d)), np.ones((n_states, d)), np.ones((n_states, d))
        for c in tested:
            shifts[c], ses[c], dfs[c] = _welch(zx[lx == c], zy[ly == c])
        p_state = _two_sided(shifts / ses, dfs)
        k = max(len(tested), 1)
        p_best = p_state[tested].min(0) if tested else np.ones(d)
        p_mean = _weighted_bonferroni((p_all, k * p_best), config.weights[:2])
        p_value = (
            _weighted_bonferroni((p_all, k * p_best, p_spread), config.weights) if config.spread else p_mean
        )
        adj = benjamini_hochberg(p_value)
        selected = adj <= fdr
        if selected.all() or not selected.any():
            break
        keep = ~selected
    if len(tested) > 1:
        w = 1.0 / ses[tested] ** 2
        bt = shifts[tested]
        pooled_b = (w * bt).sum(0) / w.sum(0)
        q_stat = (w * (bt - pooled_b) ** 2).sum(0)
        p_het = stats.chi2.sf(q_stat, len(tested) - 1)
    else:
        p_het = np.ones(d)
    heterogeneous = selected & (p_het <= config.heterogeneity)
    # genes called for a change of spread, whose mean shifts alone would not be called, move in every state
    spread = selected & (benjamini_hochberg(p_mean) > fdr) if config.spread else np.zeros(d, dtype=bool)

    # per state: the shift it moves by, its direction and its one-dimensional map
    direction = np.zeros((n_states, d))
    extra = np.zeros((n_states, d))
    knots = np.tile(np.linspace(-1.0, 1.0, config.n_knots), (n_states, 1))
    steps = np.zeros((n_states, config.n_knots))
    offset = np.zeros(n_states)
    levels = np.linspace(0.1, 0.9, config.n_knots)
    for c in range(n_states):
        rx, ry = lx == c, ly == c
        # a state responds in its heterogeneous genes when their shifts there are jointly significant
        # (χ² of their t statistics, Bonferroni over states); then each moves where its own shift is
        responds = c in tested and (
            stats.chi2.sf(np.sum((shifts[c] / ses[c])[heterogeneous] ** 2), max(int(heterogeneous.sum()), 1))
            <= fdr / k
        )
        if responds:
            local = np.where(p_state[c] <= fdr / k, shifts[c], 0.0)
            b = np.where(heterogeneous, local, np.where(selected, b_all, 0.0))
        else:
            b = np.where(heterogeneous, 0.0, np.where(selected, b_all, 0.0))
        if config.empirical_bayes and d >= EB_MIN_GENES and responds and np.any(heterogeneous & (b != 0)):
            post, shrink = _two_groups(shifts[c] / ses[c])
            add = (post >= EB_MIN_POSTERIOR) & (b == 0)
            extra[c, add] = post[add] * shrink * shifts[c, add]
        moved = (b != 0) | spread
        if not moved.any() or rx.sum() < 2:
            continue
        if spread.any() and ry.sum() >= config.min_cells:
            # the direction in which the state's second moments grow most (a mean shift b gives b/‖b‖)
            cols = np.flatnonzero(moved)
            ax, ay = zx[rx][:, cols] - zx[rx][:, cols].mean(0), zy[ry][:, cols] - zx[rx][:, cols].mean(0)
            _, vecs = np.linalg.eigh(ay.T @ ay / len(ay) - ax.T @ ax / len(ax))
            u = np.zeros(d)
            u[cols] = vecs[:, -1] if vecs[:, -1] @ b[cols] >= 0 else -vecs[:, -1]
            shift = float(u @ b)
            extra[c] += b - shift * u  # the part of the mean shift off the direction
        else:
            shift = float(np.linalg.norm(b))
            u = b / shift
        direction[c] = u
        sx = zx[rx] @ u
        offset[c] = shift
        if ry.sum() >= config.min_cells:
            sy = zy[ry] @ u
            qx, qy = np.quantile(sx, levels), np.quantile(sy, levels)
            if np.all(np.diff(qx) > 0):
                knots[c], steps[c] = qx, qy - qx
                offset[c] = shift - float(np.interp(sx, qx, qy - qx).mean())
    # each state's moved genes; its responders are estimated there, its network trained on them
    moved_cols = [np.flatnonzero((direction[c] != 0) | (extra[c] != 0)) for c in range(n_states)]
    share = share_var = 0.0
    for c, genes_c in enumerate(moved_cols):
        rx, ry = lx == c, ly == c
        if genes_c.size and min(rx.sum(), ry.sum()) >= config.min_cells:
            rho, se = _state_responders(zx[rx], zy[ry], genes_c, direction[c], seed)
            share += ry.sum() * rho
            share_var += (ry.sum() * se) ** 2 if np.isfinite(se) else 0.0
    tol = 0.1 * sd if support_tol is None else np.broadcast_to(np.asarray(support_tol, np.float64), (d,))
    state_maps, trained = {}, []
    train_config = train_config or STATE_TRAIN
    if train and train_config.n_iters > 0:
        for c, cols in enumerate(moved_cols):
            rx, ry = lx == c, ly == c
            if not cols.size or min(rx.sum(), ry.sum()) < max(config.min_cells, 2):
                continue
            rows = np.flatnonzero(rx)
            start = (
                zx[np.ix_(rows, cols)]
                + _closed_form(zx[rows], direction[c], knots[c], steps[c], offset[c], extra[c])[:, cols]
            )
            trainer = Trainer(
                zx[np.ix_(rows, cols)],
                zy[ly == c][:, cols],
                penalty=penalty,
                lam=float(lam),
                config=train_config,
                support_tol=tol[cols] / sd[cols],
                seed=seed + c,
                device=device,
            )
            t_state = time.perf_counter()
            trainer.start_from(start)
            res = finish(
                trainer, trainer.train(trainer.config.n_iters), seconds=time.perf_counter() - t_state
            )
            state_maps[c] = (cols, res.map.to("cpu"))
            trained.append(
                {
                    "state": c,
                    "genes": int(cols.size),
                    "n_iters": res.n_iters,
                    "converged": res.converged,
                    "diverged": res.diverged,
                    "seconds": res.seconds,
                }
            )
    cmap = ConditionalMap(
        mean=mean,
        sd=sd,
        pca_mean=pca_mean,
        pca_components=components,
        centroids=centroids,
        direction=direction,
        knots=knots,
        steps=steps,
        offset=offset,
        extra=extra,
        support_tol=tol,
        genes=genes,
        state_maps=state_maps,
    )
    return ConditionalFit(
        map=cmap,
        p_value=p_value,
        adj_p_value=adj,
        heterogeneous=heterogeneous,
        source_states=lx,
        target_states=ly,
        responder_fraction=float(share / max(len(ly), 1)),
        responder_fraction_se=float(np.sqrt(share_var) / max(len(ly), 1)),
        seconds=time.perf_counter() - t0,
        info={"n_states": n_states, "tested_states": len(tested), "trained_states": trained},
    )


def _weighted_bonferroni(p_values: tuple[np.ndarray, ...], weights: tuple[float, ...]) -> np.ndarray:
    """``min(1, min_i p_i / w_i)`` with the weights rescaled to sum 1 (a weight of 0 drops its test).

    Valid by the union bound: ``P(min_i p_i / w_i ≤ α) ≤ Σ_i w_i α = α`` under the null, whatever the
    dependence between the tests, so Benjamini–Hochberg on it keeps the guarantee it has on any valid
    p-values.

    Examples
    --------
    >>> _weighted_bonferroni((np.array([0.01, 0.2]), np.array([0.5, 0.05])), (0.5, 0.5)).tolist()
    [0.02, 0.1]
    """
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    out = np.ones_like(np.asarray(p_values[0], dtype=np.float64))
    for p, wi in zip(p_values, w, strict=True):
        if wi > 0:
            out = np.minimum(out, np.asarray(p, dtype=np.float64) / wi)
    return np.minimum(out, 1.0)


def _state_responders(
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
