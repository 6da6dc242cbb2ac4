"""``memory``: peak RSS (and time) of each method against the number of cells.

Data: ``synthetic_perturbation(kind="gaussian", intensity=1.0, n_genes=250, n_perturbed=20)`` with
``n_cells`` control and as many treated cells, for several ``n_cells``. Each method runs in its own
fresh spawn process (:func:`suites.common.run_isolated`); ``rss_mib`` is that process's peak
(``ru_maxrss``), ``rss_base_mib`` its peak after the imports and the input data, before the method,
so ``rss_delta_mib`` is what the method itself added. Exact OT and the elastic map hold n × n
matrices (cost, plan, kernel); the ICNN fit holds mini-batches and two small networks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import common as C

if TYPE_CHECKING:
    import argparse

TITLE = "memory: peak RSS of each method in its own process, against the number of cells"
DEFAULT_SEEDS = (0,)
N_CELLS = (500, 1000, 2000)
N_GENES = 250
METRICS = ("seconds", "rss_mib", "rss_base_mib", "rss_delta_mib")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every method at every size."""
    from scsparseot import core

    sizes = (100, 200) if args.quick else N_CELLS
    n_genes = 60 if args.quick else N_GENES
    k = 5 if args.quick else 20
    config = (
        core.TrainConfig(hidden=(32, 32), n_iters=150, min_iters=50, eval_every=25)
        if args.quick
        else core.TrainConfig()
    )
    missing = C.available_baselines()
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        for n in sizes:
            x, y, _ = C.load_synthetic(
                kind="gaussian", n_cells=n, n_genes=n_genes, n_perturbed=k, intensity=1.0, seed=seed
            )
            tol = core.default_support_tol(x)
            jobs: list[tuple[str, str, dict[str, Any]]] = [
                (
                    C.with_device("sparse ICNN (lam=1)", d),
                    "fit",
                    {"lam": 1.0, "config": config, "seed": seed, "device": d},
                )
                for d in C.devices()
            ]
            jobs += [
                ("exact OT", "exact", {}),
                ("translation (soft-threshold)", "translation", {"support_tol": tol}),
            ]
            if missing["elastic"] is None:
                jobs.append(
                    ("elastic map (STVS, strength 1)", "elastic", {"strength": 1.0, "support_tol": tol})
                )
            if missing["rgd"] is None:
                jobs.append((f"RGD (max_genes={k})", "rgd", {"max_genes": float(k)}))
            for label, kind, kw in jobs:
                out = C.run_isolated(kind, x, y, threads=args.threads, timeout=args.timeout, **kw)
                row = C.method_row(out, method=label, n_cells=n, seed=seed)
                if row["rss_mib"] is not None and row["rss_base_mib"] is not None:
                    row["rss_delta_mib"] = row["rss_mib"] - row["rss_base_mib"]
                rows.append(row)
                C.say(
                    f"  n={n:5d} seed {seed} | {label:<32} {row['status']:<7} {row.get('seconds') or 0:7.1f}s  "
                    f"peak {row['rss_mib'] or 0:6.0f} MiB  (+{row.get('rss_delta_mib') or 0:.0f} over base)"
                )
    agg = C.aggregate(rows, ("n_cells", "method"), METRICS)
    head = ["cells per group", "method", "seconds", "peak RSS MiB", "base MiB", "added by the method MiB"]
    lines = [
        [
            str(a["n_cells"]),
            a["method"],
            C.pm(a["seconds"], ".1f"),
            C.pm(a["rss_mib"], ".0f"),
            C.pm(a["rss_base_mib"], ".0f"),
            C.pm(a["rss_delta_mib"], ".0f"),
        ]
        for a in agg
    ]
    return {
        "settings": {
            "n_cells": list(sizes),
            "n_genes": n_genes,
            "n_perturbed": k,
            "train_config": config.to_dict(),
            "rss": C.RSS_UNIT,
        },
        "rows": rows,
        "aggregates": agg,
        "targets": [],
        "notes": [v for v in missing.values() if v]
        + [
            "The base (~400 MiB) is the interpreter with torch, numpy, POT, anndata and scsparseot imported "
            "and the input arrays received; it is the same for every method."
        ],
        "markdown": "Peak RSS of each method's own spawn process (ru_maxrss).\n\n"
        + C.markdown_table(head, lines, "rl" + "r" * (len(head) - 2)),
    }
