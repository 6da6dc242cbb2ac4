"""Tasks of the ``heterogeneous`` suite: responses that a gene-wise map cannot express, with known truth.

Kinds of task, each built per seed (see :func:`one_type_task`, :func:`switch_task`,
:func:`synthetic_mixture_task`, :func:`program_task`):

* ``one_type_<cell type>``: real PBMC expression (``scanpy.datasets.pbmc68k_reduced().raw``), a drug
  acting in one cell type only, on genes that every type expresses alike;
* ``switch``: the same data, a random 40 % of the treated cells of *every* type respond together;
* ``synthetic_mixture``: a Gaussian mixture whose components are told apart by unperturbed identity
  genes and are shifted by different sparse vectors (one component unmoved);
* ``gradient``, ``nonlinear`` (the ``prediction`` suite): the PBMC data, a response whose strength
  follows a continuous program inside every type, or whose direction the program's sign decides.

Every task records the true genes, which treated cells respond, which source cells belong to the
responding type/components and, where defined, each source cell's expected planted displacement
``D_i``. Only numpy, scipy and (for the PBMC data) scanpy are needed here.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from anndata import AnnData

SOURCE, TARGET, GROUPBY, CELL_TYPE = "control", "treated", "condition", "cell_type"
#: planted-gene rule on pbmc68k_reduced: detected (> 0) in at least this share of the cells of every type ...
MIN_DETECTION = 0.5
#: ... and between-type variance of the gene's mean at most this share of its pooled within-type variance
MAX_BETWEEN_WITHIN = 0.1
#: mean log effect of a planted gene in units of its standard deviation in the reference (control) cells
EFFECT_RANGE = (0.5, 1.5)
#: a decrease is at most this share of the gene's mean log value in the responding cells (reachable without
#: a knock-out: a count factor cannot go below zero, so a larger decrease could not be planted exactly)
MAX_DOWN_SHARE = 0.75
SWITCH_SHARE = 0.4


@dataclass
class Task:
    """One task of one seed: source (control) and target (treated) cells and the planted truth."""

    name: str
    kind: str  # "one_type", "switch" or "synthetic"
    seed: int
    x: np.ndarray  # source cells, float32 (n_source, n_genes)
    y: np.ndarray  # target cells, float32 (n_target, n_genes)
    genes: np.ndarray  # gene names
    true_genes: np.ndarray  # sorted column indices of the planted genes
    responders: np.ndarray  # bool (n_target,): treated cells that respond
    source_labels: np.ndarray  # cell type / component of each source cell
    target_labels: np.ndarray  # cell type / component of each target cell
    source_responds: np.ndarray | None = None  # bool (n_source,): of the responding type/components
    displacement: np.ndarray | None = None  # D: expected planted displacement of each source cell
    responding_type: str | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of planted genes."""
        return int(self.true_genes.size)

    def adata(self) -> AnnData:
        """Source and target cells in one AnnData: ``obs[GROUPBY]`` (control/treated), ``obs[CELL_TYPE]``."""
        import pandas as pd
        from anndata import AnnData

        n_s, n_t = self.x.shape[0], self.y.shape[0]
        obs = pd.DataFrame(
            {
                GROUPBY: pd.Categorical([SOURCE] * n_s + [TARGET] * n_t, categories=[SOURCE, TARGET]),
                CELL_TYPE: pd.Categorical(np.r_[self.source_labels, self.target_labels].astype(str)),
            },
            index=[f"cell{i}" for i in range(n_s + n_t)],
        )
        x = np.vstack([self.x, self.y]).astype(np.float32)
        return AnnData(X=x, obs=obs, var=pd.DataFrame(index=self.genes.astype(str)))

    def record(self) -> dict[str, Any]:
        """JSON-ready truth of the task: genes, responders and ``D`` as a sparse block."""
        out: dict[str, Any] = {
            "task": self.name,
            "kind": self.kind,
            "seed": self.seed,
            "n_source": int(self.x.shape[0]),
            "n_target": int(self.y.shape[0]),
            "n_genes": int(self.x.shape[1]),
            "true_genes": self.genes[self.true_genes].astype(str).tolist(),
            "responding_type": self.responding_type,
            "responder_share_true": float(self.responders.mean()),
            "responders": self.responders.astype(int).tolist(),
            "source_responds": None
            if self.source_responds is None
            else self.source_responds.astype(int).tolist(),
            **self.info,
        }
        if self.displacement is None:
            out["displacement"] = None
        else:
            rows = np.flatnonzero(np.any(self.displacement != 0, axis=1))
            cols = np.flatnonzero(np.any(self.displacement != 0, axis=0))
            out["displacement"] = {
                "about": "expected planted displacement D of the source cells: nonzero rows (source cell "
                "indices) × nonzero genes; every other entry is 0",
                "rows": rows.tolist(),
                "genes": self.genes[cols].astype(str).tolist(),
                "values": np.round(self.displacement[np.ix_(rows, cols)], 5).tolist(),
            }
        return out


def task_rng(name: str, seed: int) -> np.random.Generator:
    """Generator of one task and seed (independent of which other tasks run)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


# ------------------------------------------------------------------------------------------ PBMC
@functools.lru_cache(maxsize=1)
def load_pbmc() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``pbmc68k_reduced().raw`` as dense log values (700 × 765), gene names, ``bulk_labels``, cell names."""
    import scanpy as sc

    adata = sc.datasets.pbmc68k_reduced()
    raw = adata.raw.to_adata()
    x = raw.X.toarray() if hasattr(raw.X, "toarray") else np.asarray(raw.X)
    labels = adata.obs["bulk_labels"].to_numpy().astype(str)
    return x.astype(np.float64), raw.var_names.to_numpy().astype(str), labels, adata.obs_names.to_numpy()


def shared_genes(
    x: np.ndarray,
    labels: np.ndarray,
    *,
    min_detection: float = MIN_DETECTION,
    max_ratio: float = MAX_BETWEEN_WITHIN,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Genes every type expresses alike: the candidates for planted effects.

    A gene qualifies when it is detected (> 0) in at least ``min_detection`` of the cells of every
    type and the variance of its per-type means (weighted by type size) is at most ``max_ratio`` ×
    its pooled within-type variance. Returns the sorted column indices and the per-gene statistics.
    """
    types = np.unique(labels)
    w = np.array([np.mean(labels == t) for t in types])
    det = np.array([(x[labels == t] > 0).mean(0) for t in types])
    mu = np.array([x[labels == t].mean(0) for t in types])
    within = sum(w[i] * x[labels == t].var(0) for i, t in enumerate(types))
    between = (w[:, None] * (mu - w @ mu) ** 2).sum(0)
    ratio = between / np.maximum(within, 1e-12)
    ok = np.flatnonzero((det.min(0) >= min_detection) & (ratio <= max_ratio))
    return ok, {"min_detection": det.min(0), "between_within": ratio}


def stratified_halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the control and treated halves, each type split in half (odd: a coin decides)."""
    control = []
    for t in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == t))
        n_c = idx.size // 2 + (int(rng.random() < 0.5) if idx.size % 2 else 0)
        control.append(idx[:n_c])
    control_idx = np.sort(np.concatenate(control))
    treated_idx = np.setdiff1d(np.arange(labels.size), control_idx)
    return control_idx, treated_idx


def _effects(
    ref: np.ndarray, genes: np.ndarray, rng: np.random.Generator, effect_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed target log changes of ``genes`` from reference cells ``ref`` (cells × all genes).

    Half the genes go down, half up. Decreases go to the genes whose mean is largest relative to
    their sd (those that can fall furthest) and are capped at ``MAX_DOWN_SHARE`` × the mean, so that
    every change can be planted exactly. Returns (signed log change, sd, size in sd units).
    """
    k = genes.size
    sd = ref[:, genes].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    mean = ref[:, genes].mean(0)
    order = np.argsort(-(mean / sd), kind="stable")
    direction = np.ones(k)
    direction[order[: k // 2]] = -1.0
    lo, hi = effect_range
    u = rng.uniform(lo, hi, size=k)
    down = direction < 0
    down_hi = np.clip(MAX_DOWN_SHARE * mean / sd, lo, hi)[down]
    u[down] = lo + (down_hi - lo) * rng.random(int(down.sum()))
    return direction * u * sd, sd, u


def _plant(
    base: np.ndarray,
    rows: np.ndarray,
    genes: np.ndarray,
    deltas: np.ndarray,
    sd: np.ndarray,
    u: np.ndarray,
    names: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Plant ``deltas`` in ``rows`` × ``genes`` at the count level; new values, count factors, records."""
    from de_comparison import plant_gene

    x = base.copy()
    factors = np.ones(genes.size)
    records = []
    for j, g in enumerate(genes):
        new, factor, realised = plant_gene(base[rows, g], float(deltas[j]))
        x[rows, g] = new
        factors[j] = factor
        records.append(
            {
                "gene": str(names[g]),
                "sd": float(sd[j]),
                "target_sd_units": float(u[j] * np.sign(deltas[j])),
                "count_factor": float(factor),
                "target_log_change": float(deltas[j]),
                "realised_log_change": realised,
                "realised_sd_units": realised / float(sd[j]),
            }
        )
    return x, factors, records


def expected_displacement(v: np.ndarray, factor: float) -> np.ndarray:
    """``log1p(f · expm1(v)) − v``: the log change of cells with log values ``v`` under count factor ``f``."""
    return np.log1p(factor * np.expm1(v)) - v


def one_type_task(
    cell_type: str,
    seed: int,
    *,
    n_planted: int = 15,
    n_genes: int | None = None,
    effect_range: tuple[float, float] = EFFECT_RANGE,
) -> Task:
    """A drug acting in ``cell_type`` only, on ``n_planted`` genes every type expresses alike.

    Control and treated halves are split per ``bulk_labels`` type. Planted effect sizes are in units
    of each gene's sd within the *control* cells of the responding type. The same count factor
    applied to a control cell of that type gives its expected displacement ``D_i``; other cells get 0.
    ``n_genes`` keeps only the candidates plus the genes of largest variance up to that many (``--quick``).
    """
    name = f"one_type_{cell_type}"
    rng = task_rng(name, seed)
    base, names, labels, candidates, cols, stats = pbmc_genes(n_genes)
    if cell_type not in set(labels):
        msg = f"unknown cell type {cell_type!r}; bulk_labels has {sorted(set(labels))}"
        raise ValueError(msg)
    control, treated = stratified_halves(labels, rng)
    genes = np.sort(rng.choice(candidates, size=n_planted, replace=False))
    in_type = labels == cell_type
    ref = base[control[in_type[control]]]
    deltas, sd, u = _effects(ref, genes, rng, effect_range)
    rows = treated[in_type[treated]]
    x, factors, records = _plant(base, rows, genes, deltas, sd, u, names)
    src = control
    d = np.zeros((src.size, base.shape[1]))
    resp_src = in_type[src]
    for j, g in enumerate(genes):
        d[resp_src, g] = expected_displacement(base[src[resp_src], g], factors[j])
    return Task(
        name=name,
        kind="one_type",
        seed=seed,
        x=x[control].astype(np.float32),
        y=x[treated].astype(np.float32),
        genes=names,
        true_genes=genes,
        responders=in_type[treated],
        source_labels=labels[control],
        target_labels=labels[treated],
        source_responds=resp_src,
        displacement=d.astype(np.float32),
        responding_type=cell_type,
        info={
            "share_of_cells": float(in_type.mean()),
            "n_candidate_genes": int(candidates.size),
            "planted": records,
            "control_cells": control.tolist(),
            "treated_cells": treated.tolist(),
            "gene_rule_stats": {
                "min_detection": [float(stats["min_detection"][cols[g]]) for g in genes],
                "between_within": [float(stats["between_within"][cols[g]]) for g in genes],
            },
        },
    )


def switch_task(
    seed: int,
    *,
    share: float = SWITCH_SHARE,
    n_planted: int = 15,
    n_genes: int | None = None,
    effect_range: tuple[float, float] = EFFECT_RANGE,
) -> Task:
    """A random ``share`` of the treated cells of every type switch state in ``n_planted`` shared genes.

    Effect sizes are in units of each gene's sd within all control cells. ``D_i`` is undefined
    (which control cell would switch is random), so the task has no per-cell error.
    """
    name = "switch"
    rng = task_rng(name, seed)
    base, names, labels, candidates, _, _ = pbmc_genes(n_genes)
    control, treated = stratified_halves(labels, rng)
    genes = np.sort(rng.choice(candidates, size=n_planted, replace=False))
    responders = np.zeros(treated.size, dtype=bool)
    for t in np.unique(labels[treated]):
        idx = np.flatnonzero(labels[treated] == t)
        responders[rng.choice(idx, size=round(share * idx.size), replace=False)] = True
    deltas, sd, u = _effects(base[control], genes, rng, effect_range)
    x, _, records = _plant(base, treated[responders], genes, deltas, sd, u, names)
    return Task(
        name=name,
        kind="switch",
        seed=seed,
        x=x[control].astype(np.float32),
        y=x[treated].astype(np.float32),
        genes=names,
        true_genes=genes,
        responders=responders,
        source_labels=labels[control],
        target_labels=labels[treated],
        info={
            "share_asked": share,
            "n_candidate_genes": int(candidates.size),
            "planted": records,
            "control_cells": control.tolist(),
            "treated_cells": treated.tolist(),
        },
    )


def within_type_program(base: np.ndarray, labels: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """Each cell's score on the first principal component, within its type, of ``genes`` (z-scored within the type).

    The sign is fixed so that the component's largest loading is positive (reproducible across solvers).
    """
    score = np.zeros(labels.size)
    for t in np.unique(labels):
        rows = np.flatnonzero(labels == t)
        a = base[np.ix_(rows, genes)]
        a = a - a.mean(0)
        _, _, vt = np.linalg.svd(a, full_matrices=False)
        v = vt[0] * np.sign(vt[0][np.argmax(np.abs(vt[0]))])
        s = a @ v
        score[rows] = (s - s.mean()) / max(s.std(), 1e-12)
    return score


def program_task(
    kind: str,
    seed: int,
    *,
    n_planted: int = 16,
    n_genes: int | None = None,
    effect_range: tuple[float, float] | None = None,
) -> Task:
    """A response that follows a continuous program inside every type (``"gradient"``) or that sends the
    cells two ways (``"nonlinear"``).

    The program of a cell is its score on the first principal component, within its ``bulk_labels``
    type, of the genes that are never planted (:func:`within_type_program`): a state inside the type
    that the cell's unmoved genes show. ``"gradient"``: every treated cell multiplies the counts of
    the planted genes by ``f_j ** p_i`` with ``p_i = Φ(score_i)`` in (0, 1), ``f_j`` the factor of a
    full effect (``effect_range`` in sd units, default (1, 2)), so the response grows along the
    program in every type. ``"nonlinear"``: cells with a positive score move the first half of the
    planted genes by their full factor (default effect (0.5, 1.5) sd), the others the second half, so
    the responding cells split into two directions by a state no cluster of the types shows. ``D_i``
    of each control cell is the same change at its own program; every treated cell responds.
    """
    from scipy.stats import norm

    if kind not in ("gradient", "nonlinear"):
        msg = f"kind must be 'gradient' or 'nonlinear', got {kind!r}"
        raise ValueError(msg)
    effect_range = effect_range or ((1.0, 2.0) if kind == "gradient" else EFFECT_RANGE)
    rng = task_rng(kind, seed)
    base, names, labels, candidates, _, _ = pbmc_genes(n_genes)
    program = within_type_program(base, labels, np.setdiff1d(np.arange(base.shape[1]), candidates))
    control, treated = stratified_halves(labels, rng)
    genes = np.sort(rng.choice(candidates, size=n_planted, replace=False))
    deltas, sd, u = _effects(base[control], genes, rng, effect_range)
    _, factors, records = _plant(base, treated, genes, deltas, sd, u, names)
    if kind == "gradient":
        weight = np.repeat(norm.cdf(program)[:, None], genes.size, axis=1)
    else:
        first = np.arange(genes.size) < genes.size // 2
        weight = np.where((program > 0)[:, None], first[None, :], ~first[None, :]).astype(np.float64)
    x = base.copy()
    d = np.zeros_like(base)
    for j, g in enumerate(genes):  # count factor f_j ** weight of each cell
        d[:, g] = np.log1p(np.expm1(base[:, g]) * factors[j] ** weight[:, j]) - base[:, g]
    x[treated] += d[treated]
    return Task(
        name=kind,
        kind=kind,
        seed=seed,
        x=x[control].astype(np.float32),
        y=x[treated].astype(np.float32),
        genes=names,
        true_genes=genes,
        responders=np.ones(treated.size, dtype=bool),
        source_labels=labels[control],
        target_labels=labels[treated],
        source_responds=np.ones(control.size, dtype=bool),
        displacement=d[control].astype(np.float32),
        info={
            "program": "first within-type PC of the never-planted genes",
            "planted": records,
            "control_cells": control.tolist(),
            "treated_cells": treated.tolist(),
        },
    )


def pbmc_genes(
    n_genes: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The PBMC data in the task's genes (:func:`_columns`): values, gene names, types, candidate columns
    (in the kept genes), the kept columns and the candidates' rule statistics (over all genes)."""
    base, names, labels, _ = load_pbmc()
    candidates, stats = shared_genes(base, labels)
    cols = _columns(base, candidates, n_genes)
    return base[:, cols], names[cols], labels, np.searchsorted(cols, candidates), cols, stats


def _columns(base: np.ndarray, candidates: np.ndarray, n_genes: int | None) -> np.ndarray:
    """All genes, or the candidates plus the genes of largest variance up to ``n_genes`` (sorted)."""
    if n_genes is None or n_genes >= base.shape[1]:
        return np.arange(base.shape[1])
    by_var = np.argsort(-base.var(0), kind="stable")
    extra = by_var[~np.isin(by_var, candidates)][: max(0, n_genes - candidates.size)]
    return np.sort(np.concatenate([candidates, extra]))


# ------------------------------------------------------------------------------------- synthetic
def synthetic_mixture_task(
    seed: int,
    *,
    n_cells: int = 300,
    n_genes: int = 150,
    n_identity: int = 20,
    n_components: int = 3,
    n_moved: int = 8,
    identity_gap: float = 2.0,
    effect_range: tuple[float, float] = EFFECT_RANGE,
) -> Task:
    """A Gaussian mixture whose components are shifted by different sparse vectors.

    Each gene ``j`` has a base mean and a scale ``σ_j ~ U(0.5, 1.5)``; cells are
    ``m_j + σ_j (μ_cj + z)``, ``z ~ N(0, 1)``, with component means ``μ_cj = ±identity_gap`` on the
    first ``n_identity`` genes (random signs; these tell the components apart and are never
    perturbed) and 0 elsewhere. Control and treated cells are drawn independently, ``n_cells`` each,
    components equally likely. In the treated cells component 0 moves ``n_moved`` genes, component 1
    moves half of those genes the *opposite* way plus ``n_moved / 2`` genes of its own, and the other
    components do not move; each move is ``± u σ_j`` with ``u`` in ``effect_range``. The genes moved in
    opposite directions barely change the pooled mean, so neither a t-test nor a gene-wise map can
    see them. ``D_i`` of a source cell is its component's shift vector (the OT map between well
    separated components is, to sampling error, that shift).
    """
    name = "synthetic_mixture"
    rng = task_rng(name, seed)
    if n_components < 3 or n_genes < n_identity + 2 * n_moved:
        msg = "synthetic_mixture needs n_components >= 3 and n_genes >= n_identity + 2 * n_moved"
        raise ValueError(msg)
    base_mean = rng.normal(2.0, 0.5, size=n_genes)
    scale = rng.uniform(0.5, 1.5, size=n_genes)
    mu = np.zeros((n_components, n_genes))
    mu[:, :n_identity] = identity_gap * rng.choice([-1.0, 1.0], size=(n_components, n_identity))
    free = rng.permutation(np.arange(n_identity, n_genes))
    g0 = free[:n_moved]
    half = n_moved // 2
    g1 = np.r_[g0[:half], free[n_moved : n_moved + n_moved - half]]
    shifts = np.zeros((n_components, n_genes))
    s0 = np.where(rng.permutation(n_moved) < half, 1.0, -1.0)
    shifts[0, g0] = s0 * rng.uniform(*effect_range, size=n_moved) * scale[g0]
    s1 = np.r_[-s0[:half], np.where(rng.permutation(n_moved - half) < (n_moved - half) // 2, 1.0, -1.0)]
    shifts[1, g1] = s1 * rng.uniform(*effect_range, size=n_moved) * scale[g1]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        comp = rng.integers(n_components, size=n)
        z = rng.normal(size=(n, n_genes))
        return base_mean + scale * (mu[comp] + z), comp

    x, cx = draw(n_cells)
    y, cy = draw(n_cells)
    y = y + shifts[cy]
    moved = np.any(shifts != 0, axis=1)
    true = np.flatnonzero(np.any(shifts != 0, axis=0))
    comp_names = np.array([f"component_{c}" for c in range(n_components)])
    return Task(
        name=name,
        kind="synthetic",
        seed=seed,
        x=x.astype(np.float32),
        y=y.astype(np.float32),
        genes=np.array([f"gene_{j}" for j in range(n_genes)]),
        true_genes=true,
        responders=moved[cy],
        source_labels=comp_names[cx],
        target_labels=comp_names[cy],
        source_responds=moved[cx],
        displacement=shifts[cx].astype(np.float32),
        info={
            "identity_genes": [f"gene_{j}" for j in range(n_identity)],
            "shifts": {
                str(comp_names[c]): {f"gene_{j}": float(shifts[c, j]) for j in np.flatnonzero(shifts[c])}
                for c in range(n_components)
            },
            "opposite_genes": [f"gene_{j}" for j in g0[:half]],
            "scale": {f"gene_{j}": float(scale[j]) for j in true},
        },
    )


def sd_units(task: Task) -> np.ndarray:
    """Realised mean change of each planted gene in the responding treated cells, in units of its sd
    in the reference cells (PBMC tasks: from the planting records)."""
    return np.array([p["realised_sd_units"] for p in task.info["planted"]])
