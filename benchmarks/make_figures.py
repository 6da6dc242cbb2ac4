"""Example figures of ``scsparseot.pl`` for the docs, from the demo data.

Fits the embedded demo data (``scsparseot.cli.DEMO``: 400 cells per group, 200 genes, 3 drugs moving
12 genes each, half of them shared) with a fixed λ = 1 (fast; no λ search) and writes PNGs (dpi 150)
to ``docs/_static/``:

``gene_overlap_upset.png``, ``gene_overlap_jaccard.png``, ``support_dotplot.png``,
``displacement_heatmap.png``, ``training.png``, ``transport.png``; and ``response.png``:
``pl.response`` of the state-conditional map (``method="conditional"``) on the ``heterogeneous``
suite's monocyte task (seed 0: real PBMC cells, 15 genes planted in the treated CD14+ monocytes only).

Run from the repository root::

    python benchmarks/make_figures.py
    python benchmarks/make_figures.py --out /tmp/figures --n-iters 500
    python benchmarks/make_figures.py --only response    # the response figure alone (seconds)
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

from scsparseot import datasets, get, pl, tl
from scsparseot.cli import DEMO

ROOT = Path(__file__).resolve().parents[1]
DPI = 150
TARGET = "drug_1"

logger = logging.getLogger("make_figures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_static")
    parser.add_argument("--lam", type=float, default=1.0)
    parser.add_argument("--n-iters", type=int, default=None, help="maximum iterations per drug")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--only", choices=["demo", "response"], default=None, help="make one group of figures"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only != "demo":
        response_figure(args.out)
    if args.only != "response":
        demo_figures(args)


def response_figure(out: Path) -> None:
    """``pl.response`` of the conditional map on a one-cell-type response in real PBMC cells."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from suites import heterogeneous_tasks as H

    task = H.one_type_task("CD14+ Monocyte", 0)
    adata = task.adata()
    tl.sparse_ot(adata, groupby=H.GROUPBY, source=H.SOURCE, method="conditional", progress=False)
    fig = pl.response(adata, groupby=H.CELL_TYPE, return_fig=True)
    fig.savefig(out / "response.png", dpi=DPI)
    plt.close(fig)
    table = get.response(adata, groupby=H.CELL_TYPE)
    means = table.groupby(["group", "side"], observed=True)["response"].mean().unstack("side")
    logger.info("wrote %s; mean response by type:\n%s", out / "response.png", means.round(2))


def demo_figures(args: argparse.Namespace) -> None:
    """The figures of the demo data (sparse ICNN, fixed λ)."""
    adata = datasets.synthetic_perturbation(**DEMO)
    t0 = time.perf_counter()
    tl.sparse_ot(
        adata, groupby="drug", source="control", lam=args.lam, n_iters=args.n_iters, progress=False, seed=0
    )
    logger.info("fitted %d drugs in %.0f s", len(adata.uns["true_genes"]), time.perf_counter() - t0)

    figures = {
        "gene_overlap_upset.png": lambda: pl.gene_overlap(adata, return_fig=True),
        "gene_overlap_jaccard.png": lambda: pl.gene_overlap(adata, kind="jaccard", return_fig=True),
        "support_dotplot.png": lambda: pl.support(adata, top_n=10, return_fig=True),
        "displacement_heatmap.png": lambda: pl.displacement(adata, target=TARGET, top_n=20, return_fig=True),
        "training.png": lambda: pl.training(adata, target=TARGET, return_fig=True),
        # PCA of the drug's selected genes: a sparse map's moves are small on a PCA of all 200 genes
        "transport.png": lambda: pl.transport(
            adata,
            target=TARGET,
            genes=get.perturbed_genes(adata, target=TARGET, selected_only=True)["gene"],
            n_arrows=200,
            return_fig=True,
        ),
    }
    for name, make in figures.items():
        fig = make()
        fig.savefig(args.out / name, dpi=DPI)
        plt.close(fig)
        logger.info("wrote %s", args.out / name)

    # what the figures show, for the docs
    sets = {
        t: set(get.perturbed_genes(adata, target=t, selected_only=True)["gene"])
        for t in adata.uns["true_genes"]
    }
    shared = sorted(set.intersection(*sets.values()))
    logger.info("genes selected for every drug: %s", ", ".join(shared) or "(none)")
    for drug, truth in adata.uns["true_genes"].items():
        found = sets[drug]
        truth = set(map(str, truth))
        logger.info(
            "%s: %d selected, %d of %d true genes; own genes: %s",
            drug,
            len(found),
            len(found & truth),
            len(truth),
            ", ".join(sorted(found - set().union(*(s for d, s in sets.items() if d != drug)))),
        )


if __name__ == "__main__":
    main()
