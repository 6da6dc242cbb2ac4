"""Foundation benchmark: sparse ICNN (STVS) against plain ICNN, exact OT and the translation map.

Data: ``scsparseot.datasets.synthetic_perturbation`` (Gaussian kind, unpaired control and treated cells,
20 of 250 genes shifted by 2 gene standard deviations). Every method maps the control cells to the
``drug_1`` cells and is scored in data units with the same metrics (see ``benchmarks/README.md``).

Run from the repository root::

    python benchmarks/foundation.py                 # seeds 0 1 2, lam 2.0
    python benchmarks/foundation.py --seeds 0 --lam 1.0

Writes ``benchmarks/results/foundation.json`` and ``.md`` (``--name`` changes the stem) and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from _meta import clean, machine, stamp

from scsparseot import baselines, core

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SOURCE, TARGET = "control", "drug_1"
N_PROJECTIONS = 200  # projections of the sliced-W error reported here (the trainer uses its own)

SPARSE = "sparse ICNN (STVS)"
PLAIN = "plain ICNN (lam=0)"
EXACT = "exact OT (ot.emd)"
TRANSLATION = "translation (soft-threshold)"
TRUE_MAP = "true map (reference)"
IDENTITY = "identity (reference)"
METHODS = (SPARSE, PLAIN, EXACT, TRANSLATION)
REFERENCES = (TRUE_MAP, IDENTITY)
METRICS = ("seconds", "avg_dim", "dim_true", "dim_off", "precision_at_k", "sliced_w")

# targets for the sparse ICNN, checked on every seed
TARGET_PRECISION = 1.0
TARGET_DIM = 25.0
TARGET_SECONDS = 120.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="data and fit seeds")
    p.add_argument("--lam", type=float, default=2.0, help="penalty strength of the sparse ICNN")
    p.add_argument("--n-cells", type=int, default=500)
    p.add_argument("--n-genes", type=int, default=250)
    p.add_argument("--n-perturbed", type=int, default=20)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    p.add_argument("--name", default="foundation", help="file stem of the results: NAME.json, NAME.md")
    return p.parse_args(argv)


def load(
    seed: int, n_cells: int, n_genes: int, n_perturbed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source cells, target cells and the (sorted) column indices of the true genes (Gaussian data)."""
    from suites.common import load_synthetic

    return load_synthetic(
        kind="gaussian", n_cells=n_cells, n_genes=n_genes, n_perturbed=n_perturbed, seed=seed
    )


def score(
    tx: np.ndarray, x: np.ndarray, y: np.ndarray, truth: np.ndarray, tol: np.ndarray
) -> dict[str, float]:
    delta = np.asarray(tx, dtype=np.float64) - x
    on_true = np.zeros(x.shape[1], dtype=bool)
    on_true[truth] = True
    return {
        "avg_dim": core.displacement_dim(delta, tol),
        "dim_true": core.displacement_dim(delta[:, on_true], tol[on_true]),
        "dim_off": core.displacement_dim(delta[:, ~on_true], tol[~on_true]),
        "precision_at_k": core.precision_at_k(core.rank_genes(delta), truth),  # k = number of true genes
        "sliced_w": core.sliced_wasserstein(tx, y, n_projections=N_PROJECTIONS, seed=0),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_seed(seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    x, y, truth = load(seed, args.n_cells, args.n_genes, args.n_perturbed)
    tol = core.default_support_tol(x)
    rows: list[dict[str, Any]] = []

    def add(method: str, tx: np.ndarray, seconds: float, **extra: Any) -> None:
        row = {"method": method, "seed": seed, "seconds": seconds, **score(tx, x, y, truth, tol), **extra}
        rows.append(row)
        print(
            f"  seed {seed} | {method:<30} {seconds:7.2f}s  dim {row['avg_dim']:6.2f}  "
            f"p@k {row['precision_at_k']:.2f}  SW {row['sliced_w']:.4f}",
            flush=True,
        )

    for method, lam in ((SPARSE, args.lam), (PLAIN, 0.0)):

        def fit(lam: float = lam) -> tuple[core.FitResult, np.ndarray]:
            res = core.fit_map(
                x, y, penalty="stvs", lam=lam, config=core.TrainConfig(), device="cpu", seed=seed
            )
            return res, res.map.transport(x)

        (res, tx), seconds = timed(fit)
        add(
            method,
            tx,
            seconds,
            lam=lam,
            n_iters=res.n_iters,
            reason=res.reason,
            converged=res.converged,
            diverged=res.diverged,
            fit_seconds=res.seconds,
        )

    tx, seconds = timed(lambda: baselines.exact_ot_map(x, y))
    add(EXACT, tx, seconds)
    tx, seconds = timed(lambda: baselines.translation_map(x, y, tol))
    add(TRANSLATION, tx, seconds)

    # references: the oracle translation on the true genes only, and no map at all
    shift = np.zeros(x.shape[1])
    shift[truth] = y[:, truth].mean(0) - x[:, truth].mean(0)
    add(TRUE_MAP, (x + shift).astype(np.float32), 0.0)
    add(IDENTITY, x, 0.0)
    return rows


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and sample sd (ddof=1; 0 for one seed) of every metric, per method."""
    out: dict[str, dict[str, Any]] = {}
    for method in (*METHODS, *REFERENCES):
        mine = [r for r in rows if r["method"] == method]
        agg: dict[str, Any] = {"n_seeds": len(mine)}
        for metric in METRICS:
            v = np.array([r[metric] for r in mine], dtype=np.float64)
            agg[metric] = {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0}
        if "converged" in mine[0]:
            agg["converged"] = int(sum(r["converged"] for r in mine))
            agg["n_iters"] = {"mean": float(np.mean([r["n_iters"] for r in mine]))}
        out[method] = agg
    return out


def check_targets(rows: list[dict[str, Any]], k: int) -> dict[str, dict[str, Any]]:
    mine = [r for r in rows if r["method"] == SPARSE]
    p = min(r["precision_at_k"] for r in mine)
    d = max(r["avg_dim"] for r in mine)
    s = max(r["seconds"] for r in mine)
    return {
        f"precision_at_{k}": {
            "rule": f"== {TARGET_PRECISION} on every seed",
            "worst": p,
            "met": p >= TARGET_PRECISION,
        },
        "avg_dim": {"rule": f"<= {TARGET_DIM} on every seed", "worst": d, "met": d <= TARGET_DIM},
        "seconds": {"rule": f"< {TARGET_SECONDS} on every seed", "worst": s, "met": s < TARGET_SECONDS},
    }


def _pm(a: dict[str, float], fmt: str) -> str:
    return f"{a['mean']:{fmt}} ± {a['sd']:{fmt}}"


def markdown(rows: list[dict[str, Any]], agg: dict[str, dict[str, Any]], seeds: list[int], k: int) -> str:
    head = (
        f"| method | seed | seconds | avg dim | dim on true / other genes | precision@{k} | sliced-W | notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---|\n"
    )
    lines = []
    for method in (*METHODS, *REFERENCES):
        for r in (r for r in rows if r["method"] == method):
            notes = (
                f"{r['n_iters']} iters, reason={r['reason']}, converged={r['converged']}"
                if "n_iters" in r
                else ""
            )
            lines.append(
                f"| {method} | {r['seed']} | {r['seconds']:.2f} | {r['avg_dim']:.2f} | "
                f"{r['dim_true']:.2f} / {r['dim_off']:.2f} | {r['precision_at_k']:.2f} | "
                f"{r['sliced_w']:.4f} | {notes} |"
            )
        a = agg[method]
        notes = f"{a['converged']}/{a['n_seeds']} converged" if "converged" in a else ""
        lines.append(
            f"| **{method}** | mean ± sd | {_pm(a['seconds'], '.2f')} | {_pm(a['avg_dim'], '.2f')} | "
            f"{a['dim_true']['mean']:.2f} / {a['dim_off']['mean']:.2f} | {_pm(a['precision_at_k'], '.2f')} | "
            f"{_pm(a['sliced_w'], '.4f')} | {notes} |"
        )
    return head + "\n".join(lines) + f"\n\nSeeds: {' '.join(map(str, seeds))}.\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    info = machine()
    started = dt.datetime.now(dt.timezone.utc)
    print(
        f"foundation benchmark, seeds {args.seeds}, lam {args.lam}, {args.threads} torch threads", flush=True
    )
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        rows.extend(run_seed(seed, args))
    agg = aggregate(rows)
    targets = check_targets(rows, args.n_perturbed)
    table = markdown(rows, agg, args.seeds, args.n_perturbed)
    result = {
        "benchmark": "foundation",
        "date": started.isoformat(timespec="seconds"),
        "total_seconds": (dt.datetime.now(dt.timezone.utc) - started).total_seconds(),
        "machine": info,
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "data": {
            "generator": "scsparseot.datasets.synthetic_perturbation",
            "kind": "gaussian",
            "effect": "shift",
            "intensity_sd": 2.0,
            "n_cells": args.n_cells,
            "n_genes": args.n_genes,
            "n_perturbed": args.n_perturbed,
            "source": SOURCE,
            "target": TARGET,
        },
        "settings": {
            "lam": args.lam,
            "penalty": "stvs",
            "train_config": core.TrainConfig().to_dict(),
            "support_tol": "core.default_support_tol(x): 0.1 × each gene's sd in the source cells",
            "sliced_w_projections": N_PROJECTIONS,
        },
        "rows": rows,
        "aggregates": agg,
        "targets": targets,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(clean(result), indent=2) + "\n")
    md = (
        f"# Foundation benchmark\n\n{started:%Y-%m-%d %H:%M} UTC, `{result['command']}`, "
        f"{info['cpu_count']} CPUs, torch {info['torch']} ({args.threads} threads).\n\n{table}\n"
        "Targets (sparse ICNN, every seed): "
        + ", ".join(
            f"{k} {v['rule']}: {'met' if v['met'] else 'NOT met'} (worst {v['worst']:.3g})"
            for k, v in targets.items()
        )
        + "\n"
    )
    (args.out / f"{args.name}.md").write_text(stamp(md, info))
    print()
    print(table)
    for name, t in targets.items():
        print(f"target {name} {t['rule']}: {'met' if t['met'] else 'NOT met'} (worst {t['worst']:.4g})")
    print(f"wrote {args.out / args.name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
