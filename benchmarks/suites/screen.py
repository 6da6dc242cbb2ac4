"""``screen``: a whole screen in one call, in one process, on a Dask cluster and by ``fit --jobs``, beside t-tests.

Data (:func:`make_screen`): 5,000 control cells and 100 drugs × 1,000 treated cells × 2,000 genes,
negative-binomial counts of 4 cell types (each type changes ~10% of the genes' means), library sizes
varying 30%, normalised (``sc.pp.normalize_total``) and ``log1p``-transformed, stored as a CSR matrix.
The drugs cycle through four kinds, 25 each, with 20 planted genes (expressed ones, fold change
e^±0.8 of the mean count): ``shift`` (every cell), ``one_type`` (cells of type 0 only),
``switch`` (a random 40% of the cells) and ``none`` (no effect). The data are written once to an
``.h5ad`` file that each row's fresh process reads, so that its peak RSS is its own.

Rows, each in its own spawn process:

* ``sparse_ot``: the default ``tl.sparse_ot`` on every drug in one process, 1 torch/BLAS thread
  (what a Dask or ``fit --jobs`` worker uses); the time of the call, each drug's fit seconds,
  peak RSS, the calls;
* ``sparse_ot (2 threads)``: the same on the first :data:`N_PARALLEL` drugs (5 of each kind) with
  2 threads, to show what the thread count changes (time, and a borderline gene's call);
* ``sparse_ot (Dask)``: the same call with ``executor=`` a ``distributed.LocalCluster`` of 2 worker
  processes × 1 thread on the first :data:`N_PARALLEL` drugs;
* ``fit --jobs 2``: the command line (``scsparseot fit ... --jobs 2``: 2 worker processes × 1 thread),
  reading and writing the file included, on the same drugs;

the parallel rows' calls are compared with the one-process run's for the same drugs, and their
time with those drugs' share of it;
* ``t-test``: ``sc.tl.rank_genes_groups(method="t-test")`` of each drug against the control cells,
  Benjamini–Hochberg per drug (what a biologist runs first);
* ``t-test per type``: the same within each annotated cell type, a gene's p-value the
  Bonferroni-corrected smallest over the types, Benjamini–Hochberg per drug.

Precision and recall are micro-averaged over the drugs with an effect (the worst drug shown per
kind); a ``none`` drug with any call counts as a false call.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import io
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import common as C

if TYPE_CHECKING:
    import argparse

TITLE = "screen: 100 drugs in one call (one process, Dask, fit --jobs) beside the pooled and per-type t-tests"
DEFAULT_SEEDS = (0,)
KINDS = ("shift", "one_type", "switch", "none")
#: drugs fitted again with 2 threads, on the Dask cluster and by ``fit --jobs`` (the first ones: as many of each kind)
N_PARALLEL = 20
#: the rows run on :data:`N_PARALLEL` drugs and compared with the one-process row
PARALLEL = ("sparse_ot (2 threads)", "sparse_ot (Dask)", "fit --jobs 2")
FDR = 0.05
#: targets of the issue (2 CPU cores)
MAX_MINUTES, MOONSHOT_MINUTES, MAX_SPREAD = 30.0, 10.0, 3.0


def make_screen(
    *,
    n_control: int = 5000,
    n_cells: int = 1000,
    n_drugs: int = 100,
    n_genes: int = 2000,
    n_types: int = 4,
    n_planted: int = 20,
    seed: int = 0,
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The synthetic screen (log-normalised CSR AnnData) and each drug's kind and planted genes."""
    import anndata as ad
    import pandas as pd
    import scanpy as sc
    from scipy import sparse

    rng = np.random.default_rng(seed)
    base = rng.lognormal(-1.0, 1.2, n_genes)  # mean count of each gene
    type_fc = np.exp(rng.normal(0, 0.6, (n_types, n_genes)) * (rng.random((n_types, n_genes)) < 0.1))
    expressed = np.flatnonzero(base > 0.5)

    def counts(n: int, types: np.ndarray, fc: np.ndarray | None = None) -> sparse.csr_matrix:
        mu = base * type_fc[types] * (1.0 if fc is None else fc)
        lib = rng.lognormal(0, 0.3, n)[:, None]
        return sparse.csr_matrix(rng.poisson(rng.gamma(2.0, mu * lib / 2.0)).astype(np.float32))

    types = rng.integers(0, n_types, n_control)
    blocks, drug, cell_type = [counts(n_control, types)], ["control"] * n_control, [types]
    truth = {}
    for d in range(n_drugs):
        kind, name = KINDS[d % len(KINDS)], f"drug_{d:03d}"
        genes = rng.choice(expressed, n_planted, replace=False)
        t = rng.integers(0, n_types, n_cells)
        fc = np.ones((n_cells, n_genes))
        effect = np.exp(rng.choice([-1.0, 1.0], n_planted) * 0.8)
        responds = {"shift": np.ones(n_cells, bool), "one_type": t == 0, "switch": rng.random(n_cells) < 0.4}
        if kind != "none":
            fc[np.ix_(responds[kind], genes)] = effect
        blocks.append(counts(n_cells, t, fc))
        drug += [name] * n_cells
        cell_type.append(t)
        truth[name] = {"kind": kind, "genes": sorted(f"g{j}" for j in genes) if kind != "none" else []}
    obs = pd.DataFrame(
        {"drug": pd.Categorical(drug), "cell_type": pd.Categorical(np.concatenate(cell_type).astype(str))}
    )
    obs.index = [f"c{i}" for i in range(len(obs))]
    adata = ad.AnnData(sparse.vstack(blocks, format="csr"), obs=obs)
    adata.var_names = [f"g{j}" for j in range(n_genes)]
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    return adata, truth


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _limit_threads(n: int) -> Any:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    return threadpool_limits(n)


def _row(method: str, path: str, drugs: list[str], threads: int) -> dict[str, Any]:
    """One row in this (fresh) process: read the data, run ``method`` on ``drugs``, report calls and costs."""
    import anndata as ad

    limits = _limit_threads(threads)
    adata = ad.read_h5ad(path)
    base = _rss_mib()
    t0 = time.perf_counter()
    if method == "fit --jobs 2":
        calls, seconds = _cli(path, drugs)
    elif method.startswith("sparse_ot"):
        calls, seconds = _sparse_ot(adata, drugs, dask=method == "sparse_ot (Dask)")
    else:
        calls, seconds = _ttest(adata, drugs, per_type=method == "t-test per type"), {}
    total = time.perf_counter() - t0
    limits.restore_original_limits()
    return {
        "calls": calls,
        "drug_seconds": seconds,
        "seconds": total,
        "rss_mib": _rss_mib(),
        "rss_base_mib": base,
    }


def _sparse_ot(adata: Any, drugs: list[str], *, dask: bool) -> tuple[dict[str, list[str]], dict[str, float]]:
    import scsparseot as sso

    kwargs: dict[str, Any] = {"groupby": "drug", "source": "control", "target": drugs, "progress": False}
    if dask:
        import distributed

        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as lc,
            distributed.Client(lc) as client,
        ):
            sso.tl.sparse_ot(adata, executor=client.get_executor(), **kwargs)
    else:
        sso.tl.sparse_ot(adata, **kwargs)
    return _calls(adata, drugs)


def _cli(path: str, drugs: list[str]) -> tuple[dict[str, list[str]], dict[str, float]]:
    """``scsparseot fit`` with 2 worker processes, then the calls read back from its output file."""
    import anndata as ad

    from scsparseot.cli import main

    out = str(Path(path).with_name("screen_fit.h5ad"))
    with contextlib.redirect_stdout(io.StringIO()):  # its per-drug lines and gene tables
        status = main(
            [
                "fit",
                path,
                "--out",
                out,
                "--groupby",
                "drug",
                "--source",
                "control",
                "--jobs",
                "2",
                "--target",
                *drugs,
            ]
        )
    if status != 0:
        msg = f"scsparseot fit exited with status {status}"
        raise RuntimeError(msg)
    return _calls(ad.read_h5ad(out), drugs)


def _calls(adata: Any, drugs: list[str]) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Each drug's called genes and fit seconds, from a fitted AnnData."""
    import scsparseot as sso

    genes = sso.get.perturbed_genes(adata, selected_only=True)
    summary = sso.get.summary(adata)
    calls = {t: sorted(genes.loc[genes["target"] == t, "gene"].astype(str)) for t in drugs}
    return calls, dict(zip(summary["target"].astype(str), summary["seconds"].astype(float), strict=True))


def _ttest(adata: Any, drugs: list[str], *, per_type: bool) -> dict[str, list[str]]:
    """BH-selected genes of scanpy's t-test of each drug against the controls (pooled, or per type)."""
    import scanpy as sc
    from scipy.stats import false_discovery_control

    groups = ["control", *drugs]
    strata = sorted(adata.obs["cell_type"].unique()) if per_type else [None]
    p = {t: np.ones((len(strata), adata.n_vars)) for t in drugs}
    for i, s in enumerate(strata):
        rows = adata.obs["drug"].isin(groups).to_numpy()
        if s is not None:
            rows &= (adata.obs["cell_type"] == s).to_numpy()
        sub = adata[rows].copy()
        sc.tl.rank_genes_groups(
            sub,
            "drug",
            groups=drugs,
            reference="control",
            method="t-test",
            n_genes=sub.n_vars,
            key_added="tt",
        )
        for t in drugs:
            df = sc.get.rank_genes_groups_df(sub, group=t, key="tt").set_index("names")
            p[t][i] = df.loc[adata.var_names, "pvals"].fillna(1.0).to_numpy()
    out = {}
    for t in drugs:
        best = np.minimum(p[t].min(0) * len(strata), 1.0)
        out[t] = sorted(adata.var_names[false_discovery_control(best) <= FDR].astype(str))
    return out


def _scores(calls: dict[str, list[str]], truth: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Micro precision/recall over the drugs with an effect, per kind (and its worst drug), false calls of no-effect drugs."""
    out: dict[str, Any] = {}
    tp_all = called_all = true_all = 0
    for kind in KINDS:
        names = [t for t in calls if truth[t]["kind"] == kind]
        if not names:
            continue
        if kind == "none":
            hit = [t for t in names if calls[t]]
            out["none_with_calls"] = f"{len(hit)}/{len(names)}"
            out["none_share_with_calls"] = len(hit) / len(names)
            continue
        tp = [len(set(calls[t]) & set(truth[t]["genes"])) for t in names]
        n_called, n_true = [len(calls[t]) for t in names], [len(truth[t]["genes"]) for t in names]
        prec = [a / b if b else 1.0 for a, b in zip(tp, n_called, strict=True)]
        rec = [a / b for a, b in zip(tp, n_true, strict=True)]
        out[f"{kind}_precision"] = sum(tp) / max(sum(n_called), 1)
        out[f"{kind}_recall"] = sum(tp) / sum(n_true)
        out[f"{kind}_worst_precision"], out[f"{kind}_worst_recall"] = min(prec), min(rec)
        tp_all, called_all, true_all = tp_all + sum(tp), called_all + sum(n_called), true_all + sum(n_true)
    out["precision"] = tp_all / max(called_all, 1)
    out["recall"] = tp_all / max(true_all, 1)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The screen's rows, side by side, and the issue's targets."""
    sizes = (
        {"n_control": 1000, "n_cells": 300, "n_drugs": 8, "n_genes": 300}
        if args.quick
        else {"n_control": 5000, "n_cells": 1000, "n_drugs": 100, "n_genes": 2000}
    )
    n_par = 4 if args.quick else N_PARALLEL
    rows, notes = [], []
    for seed in args.seeds:
        adata, truth = make_screen(seed=seed, **sizes)
        drugs = list(truth)
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "screen.h5ad")
            adata.write_h5ad(path)
            density = adata.X.nnz / np.prod(adata.shape)
            C.say(f"screen seed {seed}: {adata.n_obs} cells × {adata.n_vars} genes, {density:.1%} non-zero")
            del adata
            jobs = [
                ("sparse_ot", drugs, 1),
                ("sparse_ot (2 threads)", drugs[:n_par], 2),
                ("sparse_ot (Dask)", drugs[:n_par], 1),
                ("fit --jobs 2", drugs[:n_par], 1),
                ("t-test", drugs, 2),
                ("t-test per type", drugs, 2),
            ]
            for method, names, threads in jobs:
                with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
                    out = ex.submit(_row, method, path, names, threads).result()
                row = {
                    "method": method,
                    "seed": seed,
                    "n_drugs": len(names),
                    **out,
                    **_scores(out["calls"], truth),
                }
                secs = np.array(list(out["drug_seconds"].values()))
                if secs.size:
                    row.update(
                        drug_seconds_min=float(secs.min()),
                        drug_seconds_median=float(np.median(secs)),
                        drug_seconds_max=float(secs.max()),
                        drug_seconds_spread=float(secs.max() / np.median(secs)),
                    )
                rows.append(row)
                C.say(
                    f"{method}: {out['seconds']:.0f} s, precision {row['precision']:.3f}, recall {row['recall']:.3f}"
                )
    return _report(rows, n_par, notes)


def _report(rows: list[dict[str, Any]], n_par: int, notes: list[str]) -> dict[str, Any]:
    by = {(r["method"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    targets = []
    for s in seeds:
        ot, tt = by[("sparse_ot", s)], by[("t-test", s)]
        same = {}
        for method in PARALLEL:
            row = by[(method, s)]
            same[method] = [t for t in row["calls"] if row["calls"][t] == ot["calls"][t]]
            ot_share = sum(ot["drug_seconds"][t] for t in row["calls"]) / max(
                sum(ot["drug_seconds"].values()), 1e-9
            )
            row["same_calls_as_one_process"] = f"{len(same[method])}/{len(row['calls'])}"
            row["speedup_vs_one_process"] = ot["seconds"] * ot_share / row["seconds"]
        ot["time_vs_ttest"] = ot["seconds"] / tt["seconds"]
        minutes = ot["seconds"] / 60 * 100 / ot["n_drugs"]
        targets += [
            C.target(
                f"time (seed {s})",
                f"100 drugs in ≤ {MAX_MINUTES:.0f} min on 2 cores (moonshot {MOONSHOT_MINUTES:.0f})",
                f"{minutes:.1f} min",
                minutes <= MAX_MINUTES,
            ),
            C.target(
                f"steady cost (seed {s})",
                f"slowest drug ≤ {MAX_SPREAD:.0f}× the median",
                f"{ot['drug_seconds_spread']:.2f}×",
                ot["drug_seconds_spread"] <= MAX_SPREAD,
            ),
            C.target(
                f"precision (seed {s})",
                "≥ 0.9 over the drugs with an effect",
                f"{ot['precision']:.3f}",
                ot["precision"] >= 0.9,
            ),
            C.target(
                f"recall (seed {s})",
                "≥ 0.9 over the drugs with an effect",
                f"{ot['recall']:.3f}",
                ot["recall"] >= 0.9,
            ),
            C.target(
                f"no-effect drugs (seed {s})",
                "≤ 1/10 of them with any call",
                ot["none_with_calls"],
                ot["none_share_with_calls"] <= 0.1,
            ),
            *[
                C.target(
                    f"{method} (seed {s})",
                    "the same genes as one process (1 thread)",
                    by[(method, s)]["same_calls_as_one_process"],
                    len(same[method]) == by[(method, s)]["n_drugs"],
                )
                for method in ("sparse_ot (Dask)", "fit --jobs 2")
            ],
        ]
    header = [
        "method",
        "seed",
        "drugs",
        "seconds",
        "s/drug min",
        "median",
        "max",
        "max/median",
        "peak RSS MiB",
        "precision",
        "recall",
        "shift P/R",
        "one_type P/R",
        "switch P/R",
        "worst recall (1-type, switch)",
        "none with calls",
    ]
    lines = []
    for r in rows:
        lines.append(
            [
                r["method"],
                str(r["seed"]),
                str(r["n_drugs"]),
                f"{r['seconds']:.0f}",
                *[
                    C.cell(r.get(k), ".1f")
                    for k in ("drug_seconds_min", "drug_seconds_median", "drug_seconds_max")
                ],
                C.cell(r.get("drug_seconds_spread"), ".2f"),
                f"{r['rss_mib']:.0f}",
                f"{r['precision']:.3f}",
                f"{r['recall']:.3f}",
                *[
                    f"{r.get(k + '_precision', float('nan')):.2f}/{r.get(k + '_recall', float('nan')):.2f}"
                    for k in KINDS[:3]
                ],
                f"{r.get('one_type_worst_recall', float('nan')):.2f}, {r.get('switch_worst_recall', float('nan')):.2f}",
                r.get("none_with_calls", ""),
            ]
        )
    extra = [
        f"* {r['method']} on the first {n_par} drugs: the same calls as one process (1 thread) on "
        f"{r['same_calls_as_one_process']}, {r['speedup_vs_one_process']:.2f}× the speed of those drugs there "
        f"(seed {r['seed']})."
        for r in rows
        if r["method"] in PARALLEL
    ] + [
        f"* One process took {r['time_vs_ttest']:.1f}× the pooled t-test's time (seed {r['seed']})."
        for r in rows
        if r["method"] == "sparse_ot"
    ]
    markdown = C.markdown_table(header, lines) + "\n\n" + "\n".join(extra) + "\n"
    return {
        "settings": {"fdr": FDR, "n_parallel": n_par, "kinds": list(KINDS)},
        "rows": rows,
        "targets": targets,
        "notes": notes,
        "markdown": markdown,
    }
