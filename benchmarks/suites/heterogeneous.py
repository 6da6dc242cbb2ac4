"""``heterogeneous``: responses that a gene-wise map cannot express.

Tasks (per seed; data and truth in ``suites/heterogeneous_tasks.py``):

* ``one_type_CD14+ Monocyte``, ``one_type_CD19+ B``: ``pbmc68k_reduced().raw`` (700 cells × 765
  log-normalised genes, all genes), control/treated halves stratified by ``bulk_labels``; 15 genes
  that every type expresses alike (detected in ≥ 50 % of the cells of every type, between-type
  variance of the mean ≤ 0.1 × the pooled within-type variance: 48 candidates) are planted at the
  count level (``de_comparison.plant_gene``) in the treated cells of the responding type only, mean
  log effect U(0.5, 1.5) × the gene's sd in that type's control cells, half down (capped at 0.75 ×
  the gene's mean so that a decrease never needs a knock-out) and half up. ``D_i`` of a control
  cell of the type is ``log1p(f·expm1(x)) − x`` with the gene's count factor ``f``; 0 elsewhere.
* ``switch``: the same data; a random 40 % of the treated cells of every type respond in 15 such
  genes together (effects in units of the gene's sd in all control cells). ``D_i`` is undefined.
* ``synthetic_mixture``: 3 Gaussian components told apart by 20 unperturbed identity genes, 150
  genes, 300 + 300 cells; component 0 moves 8 genes, component 1 moves 4 of those the other way
  and 4 more, component 2 does not move (12 true genes). ``D_i`` = the component's shift.

Methods (same data, same process, one torch thread; see :data:`METHODS`): a t-test signature, a
cluster-conditional shift, three gene-wise maps, exact OT and the elastic map through
``tl.sparse_ot``, the neural trainer's gene-wise start without training, the previous default (the sparse ICNN with
``lam="auto"``), the state-conditional map's closed form (``n_iters=0``) and the library's default
(the state-conditional map with its state networks trained).

Metrics per method × task × seed: precision@k (k = planted genes) next to the t-test's; AUROC of
the treated cells' response score against the planted responders; AUROC of the control cells' score
against the responding type / moved components (one-type and synthetic tasks); per-cell error
``Σ‖Δ̂_i − D_i‖² / Σ‖D_i‖²`` over all genes and over the true genes (identity = 1); avg dim
(``|Δ| > default_support_tol(x)``); responder share reported against the truth; seconds.
"""

from __future__ import annotations

import logging
import time
import traceback
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import common as C
from . import heterogeneous_tasks as H

if TYPE_CHECKING:
    import argparse

TITLE = "heterogeneous: responses a gene-wise map cannot express (one cell type, a state switch, a mixture)"
DEFAULT_SEEDS = (0, 1, 2)
ONE_TYPES = ("CD14+ Monocyte", "CD19+ B")
KEY = "sparse_ot"
logger = logging.getLogger(__name__)

TTEST, CLUSTER = "t-test", "cluster shift"
GAUSS, GAUSS_ST, QUANTILE = (
    "gene-wise Gaussian",
    "gene-wise Gaussian + soft threshold",
    "gene-wise quantile map",
)
EXACT, ELASTIC, START = "exact OT", "elastic map", "start alone (no training)"
BEFORE, CLOSED, DEFAULT = (
    "before (sparse ICNN, lam=auto)",
    "conditional closed form (n_iters=0)",
    "default (conditional map, trained)",
)
#: the rows whose targets are checked
CHECKED = (DEFAULT,)
#: run on the first seed only: the previous default costs ~100 s a fit, nine tenths of the suite
FIRST_SEED_ONLY = (BEFORE,)
METHODS = {
    TTEST: "scanpy rank_genes_groups(method='t-test') treated vs control, genes ranked by |score|; cell score "
    "= Σ over the top-k genes of (x − control mean)/control sd × sign(logFC)",
    CLUSTER: "sc.pp.pca (30 PCs) of control + treated on all genes, k-means (8 clusters, seeded); per cluster "
    "Welch t-test per gene with BH (q < 0.05), control cells moved by their cluster's significant mean "
    "shifts; genes ranked by max over clusters of |significant shift| / control sd (ties: smallest q); "
    "cell score = norm of its cluster's significant shift; responder share = treated cells in shifted clusters",
    GAUSS: "T(x)_j = a_j x_j + b_j matching each gene's mean and sd; genes ranked by mean |Δ|; control "
    "score = ‖Δ_i‖ and treated score = ‖y − T⁻¹(y)‖, both on the top-k genes",
    GAUSS_ST: "the same, displacements soft-thresholded at default_support_tol(x)",
    QUANTILE: "per-gene monotone rearrangement (mid-ranks of ties → quantiles of the other group); scores as "
    "for the Gaussian map",
    EXACT: "tl.sparse_ot(method='exact'); genes and scores from get/obs",
    ELASTIC: "tl.sparse_ot(method='elastic'); genes and scores from get/obs",
    START: "core.Trainer(x, y, seed=s, device='cpu').to_map() without a training step, displacement "
    "sparsified at support_tol (as tl does); control score = ‖Δ_i‖, treated score = ‖∇f(y) − y‖ "
    "(sparsified) with the trainer's f at its start (the conjugate of the start); ranked by mean |Δ|",
    BEFORE: "tl.sparse_ot(..., lam='auto'): the previous default, the gene-wise-started sparse ICNN with "
    "its λ search and calibrated calls (fdr=0.05)",
    CLOSED: "tl.sparse_ot(..., n_iters=0): the state-conditional map's closed form, the start of its "
    "training (core.fit_conditional with train=False)",
    DEFAULT: "tl.sparse_ot(adata, groupby=..., source=..., target=...) with no other argument: the "
    "state-conditional map, each moving state's ICNN trained from the closed form",
}


def _quick_kwargs() -> dict[str, Any]:
    from scsparseot.core import AnnealConfig

    return {"n_iters": 50, "anneal": AnnealConfig(n_init=50, n_train=25)}


METRICS = (
    "precision_at_k",
    "precision_at_k_ttest",
    "auroc_treated",
    "auroc_control",
    "err_all",
    "err_true",
    "avg_dim",
    "responder_share",
    "responder_share_error",
    "seconds",
)
HIGHER_IS_BETTER = {"precision_at_k", "precision_at_k_ttest", "auroc_treated", "auroc_control"}
LOWER_IS_BETTER = {"err_all", "err_true", "seconds", "avg_dim"}


@dataclass
class Output:
    """What a method gives: a gene ranking, per-cell scores and, when it is a map, the displacement."""

    ranked: np.ndarray  # column indices, best first
    score_source: np.ndarray | None = None  # per control cell
    score_target: np.ndarray | None = None  # per treated cell
    displacement: np.ndarray | None = None  # Δ̂ of the control cells (n_source, n_genes)
    responder_share: float = float("nan")
    extra: dict[str, Any] | None = None


# ------------------------------------------------------------------------------------------ methods
def ttest(task: H.Task, k: int) -> Output:
    """scanpy's t-test ranking and a signature score over its top-k genes."""
    import scanpy as sc

    ad = task.adata()
    sc.tl.rank_genes_groups(
        ad,
        H.GROUPBY,
        groups=[H.TARGET],
        reference=H.SOURCE,
        method="t-test",
        n_genes=ad.n_vars,
        use_raw=False,
    )
    df = sc.get.rank_genes_groups_df(ad, group=H.TARGET)
    col = ad.var_names.get_indexer(df["names"].astype(str))
    order = np.argsort(-np.abs(df["scores"].to_numpy()), kind="stable")
    ranked = col[order]
    sign = np.zeros(ad.n_vars)
    sign[col] = np.sign(df["scores"].to_numpy())
    top = ranked[:k]
    mean, sd = task.x.mean(0), task.x.std(0)
    sd = np.where(sd > 0, sd, 1.0)

    def score(a: np.ndarray) -> np.ndarray:
        return (((a[:, top] - mean[top]) / sd[top]) * sign[top]).sum(1)

    return Output(ranked=ranked, score_source=score(task.x), score_target=score(task.y))


def cluster_shift(
    x: np.ndarray, y: np.ndarray, *, n_clusters: int = 8, n_pcs: int = 30, q: float = 0.05, seed: int = 0
) -> dict[str, np.ndarray]:
    """Cluster-conditional shift: cluster control and treated cells together, move each cluster by its
    own tested mean shift.

    Returns ``labels_x``, ``labels_y`` (cluster of each cell), ``shift`` (n_clusters × genes, zero
    where not significant), ``qvalue`` (n_clusters × genes; 1 for clusters with fewer than 3 cells of
    either group) and ``displacement`` (the shift of each control cell's cluster).
    """
    import scanpy as sc
    from scipy.cluster.vq import kmeans2

    z = np.vstack([x, y]).astype(np.float32)
    pcs = sc.pp.pca(z, n_comps=min(n_pcs, min(z.shape) - 1), random_state=seed)
    with warnings.catch_warnings():  # an empty cluster is fine: it has no cells to move
        warnings.filterwarnings("ignore", message="One of the clusters is empty", category=UserWarning)
        _, labels = kmeans2(pcs.astype(np.float64), n_clusters, minit="++", rng=np.random.default_rng(seed))
    lx, ly = labels[: x.shape[0]], labels[x.shape[0] :]
    shift, qvalue = cluster_tests(x, y, lx, ly, n_clusters, q=q)
    return {"labels_x": lx, "labels_y": ly, "shift": shift, "qvalue": qvalue, "displacement": shift[lx]}


def cluster_tests(
    x: np.ndarray,
    y: np.ndarray,
    lx: np.ndarray,
    ly: np.ndarray,
    n_clusters: int,
    *,
    q: float = 0.05,
    min_cells: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster × gene: the significant mean shift and its Benjamini–Hochberg q-value.

    In every cluster with at least ``min_cells`` cells of ``x`` (labels ``lx``) and of ``y``
    (labels ``ly``), each gene gets Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``;
    a gene constant on both sides has no p-value and counts as 1) and Benjamini–Hochberg over the
    genes (``scipy.stats.false_discovery_control``). Returns ``(shift, qvalue)``, float64 arrays
    of shape ``(n_clusters, genes)``: ``mean(y) − mean(x)`` where ``qvalue < q``, else 0; the
    q-value, 1 in clusters not tested.
    """
    from scipy import stats

    d = x.shape[1]
    shift = np.zeros((n_clusters, d))
    qvalue = np.ones((n_clusters, d))
    for c in range(n_clusters):
        a, b = x[lx == c], y[ly == c]
        if min(a.shape[0], b.shape[0]) < min_cells:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            p = stats.ttest_ind(b, a, axis=0, equal_var=False).pvalue
        qvalue[c] = stats.false_discovery_control(np.where(np.isfinite(p), p, 1.0))
        shift[c] = np.where(qvalue[c] < q, b.mean(0) - a.mean(0), 0.0)
    return shift, qvalue


def cluster(task: H.Task, seed: int) -> Output:
    """The cluster-conditional shift as a method row."""
    out = cluster_shift(task.x, task.y, seed=seed)
    sd = task.x.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    strength = np.abs(out["shift"]).max(0) / sd
    ranked = np.lexsort((out["qvalue"].min(0), -strength))
    norms = np.linalg.norm(out["shift"], axis=1)
    return Output(
        ranked=ranked,
        score_source=norms[out["labels_x"]],
        score_target=norms[out["labels_y"]],
        displacement=out["displacement"],
        responder_share=float(np.mean(norms[out["labels_y"]] > 0)),
        extra={"n_shifted_clusters": int(np.sum(norms > 0))},
    )


def soft_threshold(d: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """``sign(d) · max(|d| − tol, 0)``."""
    return np.sign(d) * np.maximum(np.abs(d) - tol, 0.0)


def gaussian_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gene-wise Gaussian map: displacement of the source cells and inverse displacement of the targets."""
    mx, sx, my, sy = x.mean(0), x.std(0), y.mean(0), y.std(0)
    a = np.where(sx > 1e-6, sy / np.maximum(sx, 1e-6), 1.0)
    b = my - a * mx
    return (a - 1.0) * x + b, y - (y - b) / a


def quantile_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gene-wise monotone rearrangement both ways: ``T(x) − x`` and ``y − T⁻¹(y)``.

    Each cell's level is its mid-rank in its group, ``(rank − ½) / n`` (ties share a level), mapped to
    the other group's quantile at that level.
    """
    from scipy.stats import rankdata

    def push(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        levels = (rankdata(a, axis=0) - 0.5) / a.shape[0]
        sb = np.sort(b, axis=0)
        grid = (np.arange(b.shape[0]) + 0.5) / b.shape[0]
        return np.column_stack([np.interp(levels[:, j], grid, sb[:, j]) for j in range(a.shape[1])])

    return push(x, y) - x, y - push(y, x)


def genewise(task: H.Task, kind: str, k: int, tol: np.ndarray) -> Output:
    """A gene-wise map row: ranked by mean |Δ|, scores on the top-k genes."""
    if kind == QUANTILE:
        dx, dy = quantile_maps(task.x.astype(np.float64), task.y.astype(np.float64))
    else:
        dx, dy = gaussian_maps(task.x.astype(np.float64), task.y.astype(np.float64))
        if kind == GAUSS_ST:
            dx, dy = soft_threshold(dx, tol), soft_threshold(dy, tol)
    ranked = np.argsort(-np.abs(dx).mean(0), kind="stable")
    top = ranked[:k]
    return Output(
        ranked=ranked,
        score_source=np.linalg.norm(dx[:, top], axis=1),
        score_target=np.linalg.norm(dy[:, top], axis=1),
        displacement=dx,
    )


def start_alone(task: H.Task, seed: int) -> Output:
    """The neural trainer's start (no training step): the map ``tl`` would begin from."""
    from scsparseot import core

    trainer = core.Trainer(task.x, task.y, seed=seed, device="cpu")
    m = trainer.to_map()
    dx = m.displacement(task.x, sparsify=True)
    score_target = None
    f = getattr(trainer, "f", None)
    if f is not None:  # the start's dual potential: ∇f is the start's inverse
        import copy

        try:
            inverse = core.SparseOTMap(
                copy.deepcopy(f).cpu(),
                center=trainer.center,
                scale=trainer.scale,
                support_tol=trainer.support_tol,
            )
            score_target = np.linalg.norm(-inverse.displacement(task.y, sparsify=True), axis=1)
        except (TypeError, ValueError, AttributeError, RuntimeError) as err:  # a trainer whose f is no map
            logger.warning("start alone: no treated-cell score from the trainer's f (%r)", err)
    return Output(
        ranked=np.argsort(-np.abs(dx).mean(0), kind="stable"),
        score_source=np.linalg.norm(dx, axis=1),
        score_target=score_target,
        displacement=dx,
    )


def library(task: H.Task, kwargs: dict[str, Any]) -> Output:
    """``tl.sparse_ot(adata, groupby, source, target, **kwargs)``, read back through ``get`` and the AnnData."""
    import scsparseot as sso

    ad = task.adata()
    sso.tl.sparse_ot(ad, groupby=H.GROUPBY, source=H.SOURCE, target=H.TARGET, progress=False, **kwargs)
    table = sso.get.perturbed_genes(ad, target=H.TARGET).sort_values("rank", kind="stable")
    ranked = ad.var_names.get_indexer(table["gene"].astype(str))
    layer = next(n for n in (f"{KEY}_displacement", f"{KEY}_displacement_{H.TARGET}") if n in ad.layers)
    src = (ad.obs[H.GROUPBY] == H.SOURCE).to_numpy()
    delta = ad.layers[layer][np.flatnonzero(src)]
    delta = delta.toarray() if hasattr(delta, "toarray") else np.asarray(delta)
    response = ad.obs[f"{KEY}_response_{H.TARGET}"].to_numpy(dtype=np.float64)
    summ = sso.get.summary(ad).set_index("target").loc[H.TARGET]
    extra = {
        "selected": table.loc[table["selected"].astype(bool), "gene"].astype(str).tolist(),
        "lam": float(summ["lam"]),
        "n_iters": int(summ["n_iters"]),
        "reason": str(summ["reason"]),
        "library_avg_dim": float(summ["avg_dim"]),
    }
    return Output(
        ranked=ranked,
        score_source=response[src],
        score_target=response[~src],
        displacement=delta,
        responder_share=float(summ["responder_fraction"]),
        extra=extra,
    )


def run_method(label: str, task: H.Task, seed: int, quick: bool, tol: np.ndarray) -> tuple[Output, float]:
    """Run one method on one task; returns its output and wall seconds."""
    k = task.k
    t0 = time.perf_counter()
    if label == TTEST:
        out = ttest(task, k)
    elif label == CLUSTER:
        out = cluster(task, seed)
    elif label in (GAUSS, GAUSS_ST, QUANTILE):
        out = genewise(task, label, k, tol)
    elif label == START:
        out = start_alone(task, seed)
    elif label == EXACT:
        out = library(task, {"method": "exact"})
    elif label == ELASTIC:
        out = library(task, {"method": "elastic"})
    elif label == BEFORE:
        out = library(task, {"lam": "auto", **(_quick_kwargs() if quick else {})})
    elif label == CLOSED:
        out = library(task, {"n_iters": 0})
    elif label == DEFAULT:
        out = library(task, {})
    else:
        msg = f"unknown method {label!r}"
        raise ValueError(msg)
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------ metrics
def auroc(score: np.ndarray | None, labels: np.ndarray | None) -> float:
    """Area under the ROC curve of ``score`` for ``labels`` (rank formula, ties count ½); NaN if undefined."""
    from scipy.stats import rankdata

    if score is None or labels is None:
        return float("nan")
    score = np.asarray(score, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0 or not np.all(np.isfinite(score)):
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def rel_error(delta: np.ndarray | None, d: np.ndarray | None, cols: np.ndarray | None = None) -> float:
    """``Σ‖Δ̂_i − D_i‖² / Σ‖D_i‖²`` over ``cols`` (all genes by default); the identity gives 1."""
    if delta is None or d is None:
        return float("nan")
    if cols is not None:
        delta, d = delta[:, cols], d[:, cols]
    denom = float(np.sum(np.square(d, dtype=np.float64)))
    return float(np.sum(np.square(delta - d, dtype=np.float64)) / denom) if denom > 0 else float("nan")


def score(task: H.Task, out: Output, tol: np.ndarray, p_ttest: float) -> dict[str, Any]:
    """Every metric of one method on one task."""
    k = task.k
    top = out.ranked[:k]
    truth = set(task.true_genes.tolist())
    truth_share = float(task.responders.mean())
    row = {
        "k": k,
        "precision_at_k": len(truth & set(top.tolist())) / k,
        "precision_at_k_ttest": p_ttest,
        "auroc_treated": auroc(out.score_target, task.responders),
        "auroc_control": auroc(out.score_source, task.source_responds),
        "err_all": rel_error(out.displacement, task.displacement),
        "err_true": rel_error(out.displacement, task.displacement, task.true_genes),
        "avg_dim": float("nan")
        if out.displacement is None
        else float(np.mean(np.sum(np.abs(out.displacement) > tol, axis=1))),
        "responder_share": out.responder_share,
        "responder_share_true": truth_share,
        "responder_share_error": out.responder_share - truth_share,
        "top_k": task.genes[top].astype(str).tolist(),
    }
    if out.extra:
        row.update(out.extra)
    return row


# ------------------------------------------------------------------------------------------- suite
def tasks(seed: int, quick: bool) -> list[H.Task]:
    """Every task of one seed (``--quick``: one monocyte task on 150 genes and a small mixture)."""
    if quick:
        return [
            H.one_type_task(ONE_TYPES[0], seed, n_planted=10, n_genes=150),
            H.synthetic_mixture_task(seed, n_cells=150, n_genes=60),
        ]
    return [
        *(H.one_type_task(t, seed) for t in ONE_TYPES),
        H.switch_task(seed),
        H.synthetic_mixture_task(seed),
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every method on every task and seed, side by side."""
    import torch

    from scsparseot import core

    torch.set_num_threads(getattr(args, "threads", 1))
    rows: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for seed in args.seeds:
        for task in tasks(seed, args.quick):
            truth.append(task.record())
            tol = core.default_support_tol(task.x)
            p_ttest = float("nan")
            for label in METHODS:
                if label in FIRST_SEED_ONLY and seed != args.seeds[0]:
                    continue
                row: dict[str, Any] = {"task": task.name, "kind": task.kind, "method": label, "seed": seed}
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        out, seconds = run_method(label, task, seed, args.quick, tol)
                    if caught:
                        row["warnings"] = sorted({str(w.message)[:200] for w in caught})
                    if label == TTEST:
                        p_ttest = (
                            len(set(task.true_genes.tolist()) & set(out.ranked[: task.k].tolist())) / task.k
                        )
                    row.update(status="ok", seconds=seconds, **score(task, out, tol, p_ttest))
                except Exception as err:  # noqa: BLE001 - recorded in the results, not raised
                    row.update(status="error", error=repr(err), traceback=traceback.format_exc())
                rows.append(row)
                report(row)
    agg = aggregate(rows)
    targets = check(agg, [t["task"] for t in truth])
    return {
        "settings": settings(args.quick),
        "tasks": truth,
        "rows": rows,
        "aggregates": agg,
        "targets": targets,
        "notes": notes(args.quick, rows),
        "markdown": markdown(agg, truth),
    }


def settings(quick: bool) -> dict[str, Any]:
    """What ran, in words and numbers."""
    return {
        "tasks": {
            "one_type": f"pbmc68k_reduced().raw, responding types {list(ONE_TYPES)}; 15 planted genes"
            + (" (10 with --quick, 150 genes)" if quick else ", all 765 genes"),
            "switch": f"pbmc68k_reduced().raw, {H.SWITCH_SHARE:.0%} of the treated cells of every type respond",
            "synthetic_mixture": "3 components, 20 identity genes, 150 genes, 300 + 300 cells"
            + (" (--quick: 60 genes, 150 + 150 cells)" if quick else ""),
        },
        "gene_rule": f"detected in >= {H.MIN_DETECTION:.0%} of the cells of every bulk_labels type and "
        f"between-type variance of the mean <= {H.MAX_BETWEEN_WITHIN} × pooled within-type variance",
        "effect_range_sd_units": list(H.EFFECT_RANGE),
        "max_down_share_of_mean": H.MAX_DOWN_SHARE,
        "planting": "de_comparison.plant_gene: one count factor per gene (bisection) so that the mean log "
        "change of the responding treated cells equals the target; zeros stay zero",
        "methods": METHODS,
        "quick_kwargs": "n_iters=50, anneal=AnnealConfig(n_init=50, n_train=25) for the 'before' row"
        if quick
        else None,
        "library_kwargs": "every tl.sparse_ot row also gets progress=False",
        "support_tol": "core.default_support_tol(x) (0.1 × each gene's sd in the control cells)",
        "auroc": "rank formula (Mann-Whitney U / (n_pos n_neg)), ties ½",
    }


def report(row: dict[str, Any]) -> None:
    """Print one row."""
    head = f"  {row['task']:<26} seed {row['seed']} | {row['method']:<36}"
    if row["status"] != "ok":
        C.say(f"{head} {row['status']}: {row.get('error')}")
        return
    f = lambda v, fmt=".2f": C.cell(v, fmt)  # noqa: E731
    C.say(
        f"{head} {row['seconds']:7.1f}s p@k {f(row['precision_at_k'])} AUC t/c {f(row['auroc_treated'])}/"
        f"{f(row['auroc_control'])} err {f(row['err_all'])}/{f(row['err_true'])} dim {f(row['avg_dim'], '.1f')} "
        f"share {f(row['responder_share'])}/{row['responder_share_true']:.2f}"
    )


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± sd over seeds per task × method, with the worst seed of each metric."""
    agg = C.aggregate(rows, ("task", "method"), METRICS)
    for a in agg:
        mine = [
            r for r in rows if r["task"] == a["task"] and r["method"] == a["method"] and r["status"] == "ok"
        ]
        for m in METRICS:
            v = [r[m] for r in mine if C.finite(r.get(m))]
            if not v:
                a[m]["worst"] = None
            elif m in HIGHER_IS_BETTER:
                a[m]["worst"] = float(min(v))
            elif m in LOWER_IS_BETTER:
                a[m]["worst"] = float(max(v))
            else:  # responder share and its error: the seed furthest from the truth
                errs = [r["responder_share_error"] for r in mine if C.finite(r.get(m))]
                a[m]["worst"] = float(v[int(np.argmax(np.abs(errs)))])
        errs = [abs(r["responder_share_error"]) for r in mine if C.finite(r.get("responder_share_error"))]
        a["responder_share_abs_error"] = (
            {"mean": float(np.mean(errs)), "worst": float(np.max(errs)), "n": len(errs)} if errs else None
        )
    return agg


def check(agg: list[dict[str, Any]], task_names: list[str]) -> list[dict[str, Any]]:
    """The targets for each row of :data:`CHECKED` on every task (means over seeds, worst seed shown)."""
    get = {(a["task"], a["method"]): a for a in agg}
    out = []
    for method in CHECKED:
        for task in dict.fromkeys(task_names):
            out.extend(_check_one(get.get((task, method)), get.get((task, START)), task, method))
    return out


def _check_one(
    new: dict[str, Any] | None, start: dict[str, Any] | None, task: str, method: str
) -> list[dict[str, Any]]:
    one_type, synthetic = task.startswith("one_type"), task == "synthetic_mixture"
    name = f"{method} / {task}"
    if new is None or not new["status"].get("ok"):
        return [C.target(f"{name}: ran", "status ok on every seed", "failed", False)]

    def val(m: str) -> dict[str, Any]:
        return {"mean": _r(new[m]["mean"]), "worst": _r(new[m]["worst"]), "n_seeds": new[m]["n"]}

    def ge(m: str, bound: float) -> bool:
        return new[m]["mean"] is not None and new[m]["mean"] >= bound

    out = [C.target(f"{name}: treated AUROC", "mean >= 0.9", val("auroc_treated"), ge("auroc_treated", 0.9))]
    if one_type:
        out.append(
            C.target(f"{name}: control AUROC", "mean >= 0.9", val("auroc_control"), ge("auroc_control", 0.9))
        )
    if one_type or synthetic:
        e = new["err_all"]["mean"]
        out.append(
            C.target(
                f"{name}: per-cell error (all genes)",
                "mean <= 0.5 (identity = 1)",
                val("err_all"),
                e is not None and e <= 0.5,
            )
        )
    p, pt = new["precision_at_k"]["mean"], new["precision_at_k_ttest"]["mean"]
    out.append(
        C.target(
            f"{name}: precision@k vs t-test",
            "mean >= the t-test's mean",
            {"method": _r(p), "t_test": _r(pt), "worst": _r(new["precision_at_k"]["worst"])},
            p is not None and pt is not None and p >= pt - 1e-12,
        )
    )
    sh = new["responder_share_abs_error"]
    out.append(
        C.target(
            f"{name}: responder share",
            "mean |share − true share| <= 0.1",
            None if sh is None else {k: v if k == "n" else _r(v) for k, v in sh.items()},
            sh is not None and sh["mean"] <= 0.1,
        )
    )
    if (one_type or task == "switch") and start is not None:
        for m, which in (("auroc_treated", "treated"), ("auroc_control", "control")):
            if m == "auroc_control" and not one_type:
                continue  # no control-cell truth on the switch
            a, b = new[m]["mean"], start[m]["mean"]
            out.append(
                C.target(
                    f"{name}: better than the gene-wise start ({which} cells)",
                    f"{which} AUROC − start alone's >= 0.1",
                    {"method": _r(a), "start": _r(b)},
                    a is not None and b is not None and a - b >= 0.1,
                )
            )
    return out


def _r(v: float | None) -> float | None:
    """``v`` rounded to 3 decimals (``None`` stays)."""
    return None if v is None else round(float(v), 3)


def notes(quick: bool, rows: list[dict[str, Any]]) -> list[str]:
    """Notes for the report."""
    out = [
        "Per-cell scores: t-test = signature score over its top-k genes; cluster shift = norm of the cell's "
        "cluster's significant shift; gene-wise maps = norm of Δ (control) or of the inverse map's "
        "displacement (treated) on their top-k genes; library rows = obs[f'{key}_response_{target}'] "
        "(source and target rows: a target cell scores the mean response of its nearest transported "
        "control cells, core.target_response); start alone = norm of the sparsified Δ (control) and of "
        "the sparsified ∇f(y) − y (treated).",
        "err_all / err_true: Σ‖Δ̂_i − D_i‖² / Σ‖D_i‖² over the control cells, all genes / the planted genes; "
        "the identity map scores 1. Undefined on the switch task (which control cell would switch is "
        "random) and for the t-test (no displacement).",
        "responder_share: get.summary responder_fraction for library rows, the share of treated cells in "
        "clusters with a significant shift for the cluster shift, missing for the others.",
        "seconds: wall clock of the method in this process (one torch thread), including the library's "
        "null fits (fdr=0.05, n_null=3) for the 'before' row.",
        "Ablation: 'start alone' is the gene-wise Gaussian start of the neural trainer; 'conditional closed "
        "form' is the state-conditional map before training (the start of the default's state networks); "
        "the default trains each moving state's ICNN from it.",
        f"The '{BEFORE}' row runs on the first seed only (its λ search costs nine tenths of the suite); "
        "its ± 0 is one seed, not agreement.",
        "Library rows get progress=False (display only) and run without a seed argument (the library's seed "
        "0) on every data seed; the data differ per seed.",
    ]
    if quick:
        out.append(
            "--quick: the 'before' row with n_iters=50 and AnnealConfig(n_init=50, n_train=25) "
            "(the λ search's budget, used when lam='auto'). Not results."
        )
    failed = sorted({(r["task"], r["method"]) for r in rows if r["status"] != "ok"})
    if failed:
        out.append("failed: " + "; ".join(f"{t} / {m}" for t, m in failed) + " (errors in the JSON rows)")
    return out


def markdown(agg: list[dict[str, Any]], truth: list[dict[str, Any]]) -> str:
    """One table per task: mean ± sd over seeds, worst seed in brackets."""

    def c(a: dict[str, Any], m: str, fmt: str = ".2f") -> str:
        e = a.get(m)
        if not e or e.get("mean") is None:
            return "–"
        w = e.get("worst")
        return C.pm(e, fmt) + (f" [{w:{fmt}}]" if e["n"] > 1 and w is not None else "")

    head = [
        "method",
        "p@k (t-test)",
        "AUROC treated",
        "AUROC control",
        "err all",
        "err true genes",
        "avg dim",
        "responder share",
        "seconds",
    ]
    parts = []
    for name in dict.fromkeys(t["task"] for t in truth):
        mine = [t for t in truth if t["task"] == name]
        share = np.mean([t["responder_share_true"] for t in mine])
        lines = []
        for a in (a for a in agg if a["task"] == name):
            failed = {s: n for s, n in a["status"].items() if s != "ok"}
            lines.append(
                [
                    a["method"] + (f" ({failed})" if failed else ""),
                    f"{c(a, 'precision_at_k')} ({C.cell(a['precision_at_k_ttest']['mean'], '.2f')})",
                    c(a, "auroc_treated"),
                    c(a, "auroc_control"),
                    c(a, "err_all"),
                    c(a, "err_true"),
                    c(a, "avg_dim", ".1f"),
                    c(a, "responder_share"),
                    c(a, "seconds", ".1f"),
                ]
            )
        t0 = mine[0]
        desc = (
            f"{t0['n_source']} control + {t0['n_target']} treated cells × {t0['n_genes']} genes, "
            f"k = {len(t0['true_genes'])} planted genes, true responder share {share:.2f}"
            + (f", responding type {t0['responding_type']}" if t0["responding_type"] else "")
        )
        parts.append(f"## {name}\n\n{desc}.\n\n" + C.markdown_table(head, lines))
    return (
        "Mean ± sd over seeds, the worst seed in brackets. `p@k (t-test)`: precision of the method's top-k "
        "genes, the t-test's on the same data in parentheses. AUROC of the per-cell response score against "
        "the planted responders (treated cells) and against the responding type / moved components (control "
        "cells). `err`: Σ‖Δ̂ − D‖² / Σ‖D‖² (identity = 1). `avg dim`: genes with |Δ| > support_tol per "
        "control cell. `responder share`: reported share of responding treated cells.\n\n" + "\n".join(parts)
    )
