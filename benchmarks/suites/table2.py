"""``table2``: high dimension, 2000 + 2000 cells × 3000 genes, 100 perturbed, ``max_genes=100``.

Data: ``synthetic_perturbation(kind="paper", n_cells=2000, n_genes=3000, n_perturbed=100, seed=s)``:
control U[0, 1]^(2000×3000); treated = the same rows + U(0, 100) on 100 genes + U(0, 1) on
``3 * n_perturbed = 300`` further genes. The paper's high-dimensional data add U(0, 1) to 2000 genes
instead; this generator ties the number of small-shift genes to ``n_perturbed``. With the paper's
tolerance |Δ| > 1 a U(0, 1) shift never counts as movement in either version, so the difference only
changes how far the treated cloud is from the control cloud outside the 100 genes (and so the
sliced-W values), not the dimension targets.

Methods: sparse ICNN with ``max_genes=100`` (DisNOT Alg. 2: λ raised until the average dimension is
≤ 100, then annealed downwards while the error drops; ``AnnealConfig()`` defaults), plain ICNN
(``lam=0``), exact OT, translation; all with ``support_tol=1.0``. A fit still running after
``--timeout`` seconds (default 720) is stopped and recorded with its last progress record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import common as C
from .table1 import EXACT, METRICS, PLAIN, SPARSE_TRUE, TRANSLATION, TRUE, ratios, references
from .table1 import sizes as table1_sizes

if TYPE_CHECKING:
    import argparse

TITLE = (
    "table2: 2000 + 2000 cells × 3000 genes, 100 perturbed, max_genes=100 (DisNOT high-dimensional setting)"
)
DEFAULT_SEEDS = (0,)
PUBLISHED = {
    "source": "DisNOT paper, high-dimensional synthetic data (3000 genes, 2000 + 2000 cells, |Δ| > 1)",
    "avg_dim": {"ICNN": 2480, "elastic MBO": 99, "DisNOT": "120-153"},
}
SUPPORT_TOL = 1.0
TARGET_SECONDS = 600.0


def sizes(quick: bool) -> dict[str, Any]:
    """Sizes and configurations (``--quick`` shrinks them)."""
    return table1_sizes(quick, full=(2000, 3000, 100), small=(200, 300, 10))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The four methods on each seed."""
    s = sizes(args.quick)
    k = s["n_perturbed"]
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        x, y, truth = C.load_synthetic(
            kind="paper", n_cells=s["n_cells"], n_genes=s["n_genes"], n_perturbed=k, seed=seed
        )
        tol = np.full(x.shape[1], SUPPORT_TOL, dtype=np.float32)
        refs = references("paper", x, y, truth)
        true_sw = C.score_row(refs[TRUE], x, y, truth, tol)["sliced_w"]
        sparse_sw = C.score_row(refs[SPARSE_TRUE], x, y, truth, tol)["sliced_w"]
        jobs: list[tuple[str, str, dict[str, Any]]] = []
        sicnn = sicnn_label(k)
        for device in C.devices():
            common = {"penalty": "stvs", "config": s["config"], "support_tol": SUPPORT_TOL, "seed": seed}
            jobs.append(
                (
                    C.with_device(sicnn, device),
                    "fit",
                    {**common, "lam": 1.0, "max_genes": float(k), "anneal": s["anneal"], "device": device},
                )
            )
            jobs.append((C.with_device(PLAIN, device), "fit", {**common, "lam": 0.0, "device": device}))
        jobs += [(EXACT, "exact", {}), (TRANSLATION, "translation", {"support_tol": tol})]
        for label, kind, kw in jobs:
            C.say(f"  seed {seed} | {label} ...")
            out = C.run_isolated(
                kind, x, y, threads=args.threads, timeout=args.timeout, on_progress=_echo, **kw
            )
            row = C.method_row(out, method=label, seed=seed, device=kw.get("device", "cpu"))
            if out["status"] == "ok":
                row.update(C.score_row(out["tx"], x, y, truth, tol))
                row.update(ratios(row["sliced_w"], true_sw, sparse_sw))
                if "moves" in out:
                    row["moves"] = out["moves"]
            rows.append(row)
            _report(row, k)
        for label, tx in refs.items():
            row = {"method": label, "seed": seed, "status": "ok"}
            row.update(C.score_row(tx, x, y, truth, tol))
            row.update(ratios(row["sliced_w"], true_sw, sparse_sw))
            rows.append(row)
            _report(row, k)
    agg = C.aggregate(rows, ("method",), METRICS)
    return {
        "settings": {
            "n_cells_per_group": s["n_cells"],
            "n_genes": s["n_genes"],
            "n_perturbed": k,
            "n_small_shift_genes": 3 * k,
            "data": "kind='paper': control U[0,1]; treated = same rows + U(0,100) on n_perturbed genes + "
            "U(0,1) on 3·n_perturbed genes (the paper: U(0,1) on 2000 genes)",
            "support_tol": SUPPORT_TOL,
            "max_genes": float(k),
            "train_config": s["config"].to_dict(),
            "anneal_config": s["anneal"].to_dict(),
            "anneal_config_note": "AnnealConfig() defaults (n_train not shortened)",
            "timeout_s": args.timeout,
            "published": PUBLISHED,
        },
        "rows": rows,
        "aggregates": agg,
        "targets": check(rows, k),
        "notes": [
            "The generator adds U(0,1) to 3·n_perturbed = 300 genes, not to 2000 genes as in the paper; "
            "with |Δ| > 1 counted as movement this does not change the dimension targets.",
            "The true map is the OT map between the two distributions: the monotone rearrangement of "
            "each perturbed gene (the shifts are drawn independently of the cells, so no map of x alone "
            "reproduces the row pairing, whose sliced-W on the perturbed genes is shown for information). "
            "Exact OT (as many control as treated cells) matches cells one-to-one: sliced-W 0.",
            "seconds: the method in its own process (imports excluded), the ICNNs including "
            "map.transport(x) on the 2000 control cells.",
        ],
        "markdown": markdown(agg, k),
    }


def _echo(msg: dict[str, Any]) -> None:
    if "step" in msg and int(msg["step"]) % 200 == 0:
        C.say(
            f"    {msg['elapsed']:6.0f}s step {int(msg['step']):5d} λ {msg.get('lam', float('nan')):.3g} "
            f"dim {msg.get('dim', float('nan')):.1f} err {msg.get('err', float('nan')):.3f}"
        )


def _report(row: dict[str, Any], k: int) -> None:
    head = f"  seed {row['seed']} | {row['method']:<34}"
    if row["status"] != "ok":
        C.say(f"{head} {row['status']}: {row.get('error')} (last: {row.get('last_progress')})")
        return
    C.say(
        f"{head} {row.get('seconds') or 0:7.1f}s  dim {row['avg_dim']:8.2f}  p@{k} {row['precision_at_k']:.2f}  "
        f"SW {row['sliced_w']:.4f}  RSS {row.get('rss_mib') or 0:.0f} MiB"
    )


def sicnn_label(k: int) -> str:
    """Row label of the sparse ICNN with ``max_genes=k``."""
    return f"sparse ICNN (max_genes={k})"


def check(rows: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Targets of the sparse ICNN: avg dim ≤ k, sliced-W ≤ 1.1 × plain ICNN's, under 10 minutes."""
    out = []
    sicnn = sicnn_label(k)
    sparse = [r for r in rows if r["method"] == sicnn]
    plain = {r["seed"]: r for r in rows if r["method"] == PLAIN and r["status"] == "ok"}
    for r in sparse:
        seed = r["seed"]
        ok = r["status"] == "ok"
        tag = f"seed {seed}: " if len(sparse) > 1 else ""
        out.append(
            C.target(
                f"{tag}{sicnn} avg dim",
                f"<= {k}",
                r.get("avg_dim") if ok else r["status"],
                ok and r["avg_dim"] <= k,
            )
        )
        if ok and seed in plain:
            ratio = r["sliced_w"] / plain[seed]["sliced_w"]
            out.append(
                C.target(
                    f"{tag}{sicnn} sliced-W vs plain ICNN",
                    "sliced-W <= 1.1 × plain ICNN's",
                    {"ratio": ratio, "sparse": r["sliced_w"], "plain": plain[seed]["sliced_w"]},
                    ratio <= 1.1,
                )
            )
        else:
            out.append(
                C.target(
                    f"{tag}{sicnn} sliced-W vs plain ICNN", "sliced-W <= 1.1 × plain ICNN's", "n/a", False
                )
            )
        secs = r.get("seconds")
        out.append(
            C.target(
                f"{tag}{sicnn} time",
                f"< {TARGET_SECONDS:.0f} s (fit + transport, 1 torch thread)",
                secs if ok else r["status"],
                ok and secs is not None and secs < TARGET_SECONDS,
            )
        )
    return out


def markdown(agg: list[dict[str, Any]], k: int) -> str:
    """Table of means (± sd over seeds)."""
    head = [
        "method",
        "avg dim",
        "dim true / other",
        f"precision@{k}",
        "sliced-W",
        "SW / true map",
        "seconds",
        "peak RSS MiB (base)",
        "final λ",
        "iters",
    ]
    lines = []
    for a in agg:
        failed = {s: n for s, n in a["status"].items() if s != "ok"}
        lines.append(
            [
                a["method"] + (f" ({failed})" if failed else ""),
                C.pm(a["avg_dim"], ".2f"),
                f"{C.cell(a['dim_true']['mean'], '.2f')} / {C.cell(a['dim_off']['mean'], '.2f')}",
                C.pm(a["precision_at_k"], ".2f"),
                C.pm(a["sliced_w"], ".4f"),
                C.pm(a["sw_ratio"], ".3f"),
                C.pm(a["seconds"], ".1f"),
                f"{C.pm(a['rss_mib'], '.0f')} ({C.cell(a['rss_base_mib']['mean'], '.0f')})",
                C.pm(a["lam"], ".3g"),
                C.pm(a["n_iters"], ".0f"),
            ]
        )
    pub = ", ".join(f"{m} {v}" for m, v in PUBLISHED["avg_dim"].items())
    return (
        "Dimensions counted with |Δ| > 1. Peak RSS of the method's own process (baseline after imports "
        "and data in parentheses).\n\n"
        + C.markdown_table(head, lines)
        + f"\nPublished avg dims (paper's version of this data, for reference): {pub}.\n"
    )
