"""``lowdim``: the sparsity/fidelity trade-off on 2-D and 3-D toys, λ='auto' against a grid of fixed λ.

Data (per dimension ``d`` and seed ``s``): 500 control cells from N(0, I_d) and 500 treated cells drawn
independently from N(0, I_d) shifted by +3 in coordinate 0 only, so the true displacement is
``(3, 0, …)``: one moving coordinate.

Methods: ``core.fit_map(x, y, lam='auto')`` (simulated annealing of λ with ``AnnealConfig()``
defaults) and ``core.fit_map(x, y, lam=λ)`` for each λ of the grid, all with ``TrainConfig()``
defaults and the STVS penalty; the exact-OT map and the true map x + (3, 0, …) as references.

Columns: ``Spa`` = mean over cells of the STVS penalty (γ = 0.5, the trainer's) of the displacement
in the trainer's standardised units (Δ / scale, scale = sqrt(mean gene variance of x) ≈ 1 here), i.e.
the quantity the annealing trades against ``Err`` = sliced-W(T(x), y) (200 projections, data
units); ``avg dim`` with the default per-gene tolerance (0.1 × each coordinate's sd in x).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import common as C

if TYPE_CHECKING:
    import argparse

TITLE = "lowdim: sparsity/fidelity trade-off of λ='auto' against fixed λ on 2-D and 3-D toys"
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
DIMS = (2, 3)
LAMS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)
N_CELLS = 500
SHIFT = 3.0
AUTO = "lam=auto (annealed)"
EXACT = "exact OT (reference)"
TRUE = "true map x+3e0 (reference)"
METRICS = ("spa", "err", "avg_dim", "dim_off", "lam", "seconds", "rss_mib", "n_iters")


def lam_label(lam: float) -> str:
    """Row label of a fixed λ."""
    return f"lam={lam:g}"


def toy(dim: int, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Control N(0, I) and independent treated N(0, I) + 3·e0, ``n`` cells each."""
    rng = np.random.default_rng([seed, dim])
    x = rng.normal(size=(n, dim))
    y = rng.normal(size=(n, dim))
    y[:, 0] += SHIFT
    return x.astype(np.float32), y.astype(np.float32)


def spa(delta: np.ndarray, x: np.ndarray) -> float:
    """Mean STVS penalty (trainer default γ) of the displacements in the trainer's standardised units."""
    import torch

    from scsparseot import core

    scale = float(np.sqrt(np.mean(x.var(0)))) or 1.0
    return float(core.STVS()(torch.as_tensor(delta / scale, dtype=torch.float64)).mean())


def settings(quick: bool) -> dict[str, Any]:
    """Sizes and configurations (``--quick`` shrinks them)."""
    from scsparseot import core

    if quick:
        return {
            "n_cells": 200,
            "lams": (1.0,),
            "config": core.TrainConfig(hidden=(32, 32), n_iters=150, min_iters=50, eval_every=25),
            "anneal": core.AnnealConfig(n_init=50, n_train=25),
        }
    return {"n_cells": N_CELLS, "lams": LAMS, "config": core.TrainConfig(), "anneal": core.AnnealConfig()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Fit every method on every dimension and seed; write the trade-off figure."""
    from scsparseot import core

    s = settings(args.quick)
    rows: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    for dim in DIMS:
        for seed in args.seeds:
            x, y = toy(dim, seed, s["n_cells"])
            tol = core.default_support_tol(x)

            for device in C.devices():
                jobs = [(AUTO, "auto"), *((lam_label(lam), lam) for lam in s["lams"])]
                for method, lam in jobs:
                    out = C.run_isolated(
                        "fit",
                        x,
                        y,
                        threads=args.threads,
                        timeout=args.timeout,
                        lam=lam,
                        penalty="stvs",
                        config=s["config"],
                        anneal=s["anneal"] if lam == "auto" else None,
                        seed=seed,
                        device=device,
                    )
                    label = C.with_device(method, device)
                    rows.append(scored(label, out, x, y, tol, dim=dim, seed=seed, device=device))
                    if out["status"] != "ok":
                        continue
                    if lam == "auto":
                        traces.append(
                            {
                                "dim": dim,
                                "seed": seed,
                                "device": device,
                                "moves": out["moves"],
                                "history": {
                                    k: out["history"][k] for k in ("step", "lam", "dim", "err", "spa")
                                },
                            }
                        )
            refs = ((EXACT, _exact(x, y)), (TRUE, x + np.eye(dim, dtype=np.float32)[0] * SHIFT))
            for method, tx in refs:
                rows.append(scored(method, {"status": "ok", "tx": tx}, x, y, tol, dim=dim, seed=seed))

    methods = list(dict.fromkeys(r["method"] for r in rows))
    agg = C.aggregate(rows, ("dim", "method"), METRICS)
    targets = check(agg, s["lams"])
    figure = args.out / f"{'lowdim_tradeoff_quick' if args.quick else 'lowdim_tradeoff'}.png"
    plot(agg, traces, s, figure, rows)
    return {
        "settings": {
            "data": f"x ~ N(0, I_d), y ~ N(0, I_d) + {SHIFT}·e0 drawn independently, "
            f"{s['n_cells']} cells each, d in {list(DIMS)}; numpy default_rng([seed, d])",
            "dims": list(DIMS),
            "lams": list(s["lams"]),
            "penalty": "stvs (gamma 0.5 in standardised units)",
            "train_config": s["config"].to_dict(),
            "anneal_config": s["anneal"].to_dict(),
            "support_tol": "core.default_support_tol(x): 0.1 × each coordinate's sd in x",
            "spa": "mean STVS(γ=0.5) of Δ/scale, scale = sqrt(mean var(x))",
            "err": f"core.sliced_wasserstein(T(x), y, n_projections={C.N_PROJECTIONS}, seed=0), data units",
            "methods": methods,
        },
        "rows": rows,
        "aggregates": agg,
        "lambda_traces": traces,
        "targets": targets,
        "figures": [figure.name],
        "notes": [
            "The references (exact OT, true map) are computed in the parent process: no time or RSS.",
            "λ trace: each annealing move trains AnnealConfig.n_train steps at the proposed λ; a "
            "rejected move restores the state from before it, so the x axis counts iterations trained "
            "(including rejected moves), not the trainer's step counter.",
        ],
        "markdown": markdown(agg, methods, figure.name),
    }


def scored(
    method: str, out: dict[str, Any], x: np.ndarray, y: np.ndarray, tol: np.ndarray, **fields: Any
) -> dict[str, Any]:
    """Row of one method: the process's fields plus Spa, Err, avg dim and dim off e0; printed."""
    from scsparseot import core

    row = C.method_row(out, method=method, **fields)
    if out["status"] == "ok":
        tx = out["tx"]
        delta = np.asarray(tx, dtype=np.float64) - x
        row.update(
            spa=spa(delta, x),
            err=core.sliced_wasserstein(tx, y, n_projections=C.N_PROJECTIONS, seed=0),
            avg_dim=core.displacement_dim(delta, tol),
            dim_off=core.displacement_dim(delta[:, 1:], tol[1:]),
        )
        C.say(
            f"  {fields['dim']}-D seed {fields['seed']} | {method:<28} {row.get('seconds') or 0:6.1f}s  "
            f"Spa {row['spa']:.4f}  Err {row['err']:.4f}  dim {row['avg_dim']:.3f}  "
            f"RSS {row['rss_mib'] or 0:.0f} MiB"
        )
    else:
        C.say(f"  {fields['dim']}-D seed {fields['seed']} | {method}: {out['status']} {out.get('error')}")
    return row


def _exact(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scsparseot import baselines

    return baselines.exact_ot_map(x, y)


def _mean(agg: list[dict[str, Any]], dim: int, method: str, metric: str) -> float | None:
    for a in agg:
        if a["dim"] == dim and a["method"] == method:
            return a[metric]["mean"]
    return None


def check(agg: list[dict[str, Any]], lams: tuple[float, ...]) -> list[dict[str, Any]]:
    """Checks of the annealed map (defined here; the brief sets no lowdim target).

    * it moves one coordinate: mean avg dim ≤ 1.05 (the true displacement is 1-sparse);
    * it is not dominated: no fixed λ has both Spa and Err more than 10% below the annealed map's
      (means over seeds), i.e. the annealed point lies on (or within 10% of) the grid's trade-off front.
    """
    out = []
    for dim in DIMS:
        d = _mean(agg, dim, AUTO, "avg_dim")
        if d is None:
            continue
        out.append(C.target(f"{dim}-D annealed avg dim", "mean avg dim <= 1.05", round(d, 4), d <= 1.05))
        s_a, e_a = _mean(agg, dim, AUTO, "spa"), _mean(agg, dim, AUTO, "err")
        dominating = [
            lam_label(lam)
            for lam in lams
            if (s := _mean(agg, dim, lam_label(lam), "spa")) is not None
            and (e := _mean(agg, dim, lam_label(lam), "err")) is not None
            and s < 0.9 * s_a
            and e < 0.9 * e_a
        ]
        out.append(
            C.target(
                f"{dim}-D annealed not dominated",
                "no fixed λ has both Spa and Err < 0.9 × the annealed map's (means over seeds)",
                {"spa": round(s_a, 4), "err": round(e_a, 4), "dominated_by": dominating},
                not dominating,
            )
        )
    return out


def markdown(agg: list[dict[str, Any]], methods: list[str], figure: str) -> str:
    """Table of means ± sd per dimension and method."""
    head = [
        "d",
        "method",
        "final λ",
        "Spa",
        "Err (sliced-W)",
        "avg dim",
        "dim off e0",
        "iters",
        "seconds",
        "peak RSS MiB",
    ]
    lines = []
    for dim in DIMS:
        for method in methods:
            a = next((a for a in agg if a["dim"] == dim and a["method"] == method), None)
            if a is None:
                continue
            lines.append(
                [
                    f"{dim}-D",
                    f"**{method}**" if method.startswith(AUTO) else method,
                    C.pm(a["lam"], ".3g"),
                    C.pm(a["spa"], ".4f"),
                    C.pm(a["err"], ".4f"),
                    C.pm(a["avg_dim"], ".3f"),
                    C.pm(a["dim_off"], ".3f"),
                    C.pm(a["n_iters"], ".0f"),
                    C.pm(a["seconds"], ".1f"),
                    C.pm(a["rss_mib"], ".0f"),
                ]
            )
    return (
        "Mean ± sd over seeds (sd omitted for one seed). Spa = mean STVS penalty of Δ (standardised "
        "units), Err = sliced-W(T(x), y) in data units, dims counted with 0.1 × sd per coordinate.\n\n"
        + C.markdown_table(head, lines, "ll" + "r" * (len(head) - 2))
        + f"\n![Spa/Err trade-off and λ trace]({figure})\n"
    )


def plot(
    agg: list[dict[str, Any]],
    traces: list[dict[str, Any]],
    s: dict[str, Any],
    path: Any,
    rows: list[dict[str, Any]] | None = None,
) -> None:
    """Left: Spa against Err per dimension (fixed-λ path, annealed point starred, each seed's annealed
    map as a small star); right: λ traces of the annealed fits."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(DIMS), 2, figsize=(11, 4.2 * len(DIMS)), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for i, dim in enumerate(DIMS):
        ax = axes[i, 0]
        pts = []
        for lam in s["lams"]:
            a = next((a for a in agg if a["dim"] == dim and a["method"] == lam_label(lam)), None)
            if a is None or a["spa"]["mean"] is None:
                continue
            pts.append((lam, a["spa"], a["err"]))
        if pts:
            xs = [p[1]["mean"] for p in pts]
            ys = [p[2]["mean"] for p in pts]
            ax.plot(xs, ys, "-", color="0.6", zorder=1)
            for k, (lam, sp, er) in enumerate(pts):
                ax.errorbar(
                    sp["mean"],
                    er["mean"],
                    xerr=sp["sd"],
                    yerr=er["sd"],
                    fmt="o",
                    color=cmap(k / max(len(pts) - 1, 1)),
                    label=f"λ = {lam:g}",
                    zorder=2,
                )
        a = next((a for a in agg if a["dim"] == dim and a["method"] == AUTO), None)
        if a is not None and a["spa"]["mean"] is not None:
            ax.errorbar(
                a["spa"]["mean"],
                a["err"]["mean"],
                xerr=a["spa"]["sd"],
                yerr=a["err"]["sd"],
                fmt="*",
                ms=18,
                color="crimson",
                mec="k",
                label=f"λ = auto (final {a['lam']['mean']:.2g})",
                zorder=3,
            )
        mine = [r for r in rows or () if r["dim"] == dim and r["method"] == AUTO and r.get("spa") is not None]
        if mine:
            ax.plot(
                [r["spa"] for r in mine],
                [r["err"] for r in mine],
                "*",
                ms=8,
                color="crimson",
                alpha=0.5,
                label="λ = auto, each seed",
                zorder=3,
            )
        t = next((a for a in agg if a["dim"] == dim and a["method"] == TRUE), None)
        if t is not None:
            ax.plot(t["spa"]["mean"], t["err"]["mean"], "kx", ms=10, label="true map x + 3e0")
        ax.set_xlabel("Spa: mean STVS penalty of T(x) − x")
        ax.set_ylabel("Err: sliced-W(T(x), y) (log scale)")
        ax.set_yscale("log")
        ax.set_title(f"{dim}-D: trade-off (mean ± sd over seeds)")
        ax.legend(fontsize=8)

        ax = axes[i, 1]
        anneal = s["anneal"]
        for tr in (t for t in traces if t["dim"] == dim and t["device"] == "cpu"):
            mv = tr["moves"]
            if not mv.get("lam"):
                continue
            n = len(mv["lam"])
            steps = anneal.n_init + anneal.n_train * np.arange(n)
            lam = np.asarray(mv["lam"])
            acc = np.asarray(mv["accepted"], dtype=bool)
            current = lam.copy()  # λ in force after each move
            for k in range(1, n):
                current[k] = lam[k] if acc[k] else current[k - 1]
            (line,) = ax.step(steps, current, where="post", label=f"seed {tr['seed']}")
            ax.plot(steps[acc], lam[acc], "o", color=line.get_color(), ms=5)
            ax.plot(steps[~acc], lam[~acc], "o", mfc="none", color=line.get_color(), ms=5)
        ax.set_xlabel("iterations trained (incl. rejected moves)")
        ax.set_ylabel("λ")
        ax.set_title(f"{dim}-D: λ in force (line); proposals accepted ● / rejected ○")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
