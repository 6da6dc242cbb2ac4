"""The README's and the docs' figures, from the default map, and what they show (``figures.json``).

Fits the embedded demo data (``scsparseot.cli.DEMO``: 400 cells per group, 200 genes, 3 drugs moving
12 genes each, half of them shared) with the default call ``tl.sparse_ot(adata, groupby="drug",
source="control")`` and writes PNGs (dpi 150) to ``docs/_static/``:

``gene_overlap_upset.png``, ``gene_overlap_jaccard.png``, ``support_dotplot.png``,
``displacement_heatmap.png``, ``training.png``, ``transport.png`` and ``report.png`` (the report page
of ``report.write_report``, rendered by headless Chromium when one is on PATH, otherwise left as it
is); and ``response.png``: ``pl.response`` of the default map on the ``heterogeneous`` suite's
monocyte task (seed 0: real PBMC cells, 15 genes planted in the treated CD14+ monocytes only).

``docs/_static/figures.json`` records the code commit and the numbers the captions cite (each
drug's selected genes against the planted ones, the shared genes, the mean response per type).

Run from the repository root::

    python benchmarks/make_figures.py
    python benchmarks/make_figures.py --out /tmp/figures
    python benchmarks/make_figures.py --only response    # the response figure alone
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch
from _meta import clean, code_state

from scsparseot import datasets, get, pl, report, tl
from scsparseot.cli import DEMO

ROOT = Path(__file__).resolve().parents[1]
DPI = 150
TARGET = "drug_1"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

logger = logging.getLogger("make_figures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_static")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--only", choices=["demo", "response"], default=None, help="make one group of figures"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    record_path = args.out / "figures.json"
    record: dict[str, Any] = json.loads(record_path.read_text()) if record_path.exists() else {}
    if args.only != "demo":
        record["response"] = response_figure(args.out)
    if args.only != "response":
        record["demo"] = demo_figures(args.out)
    record["code"] = code_state()
    record_path.write_text(json.dumps(clean(record), indent=1) + "\n")
    logger.info("wrote %s", record_path)


def response_figure(out: Path) -> dict[str, Any]:
    """``pl.response`` of the default map on a one-cell-type response in real PBMC cells."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from suites import heterogeneous_tasks as H

    task = H.one_type_task("CD14+ Monocyte", 0)
    adata = task.adata()
    tl.sparse_ot(adata, groupby=H.GROUPBY, source=H.SOURCE, progress=False)
    fig = pl.response(adata, groupby=H.CELL_TYPE, return_fig=True)
    fig.savefig(out / "response.png", dpi=DPI)
    plt.close(fig)
    table = get.response(adata, groupby=H.CELL_TYPE)
    means = table.groupby(["group", "side"], observed=True)["response"].mean().unstack("side")
    logger.info("wrote %s; mean response by type:\n%s", out / "response.png", means.round(2))
    return {
        "task": "heterogeneous one_type CD14+ Monocyte, seed 0",
        "mean_response": {side: means[side].round(3).to_dict() for side in means.columns},
        "first_by_target_response": str(means["target"].idxmax()),
    }


def demo_figures(out: Path) -> dict[str, Any]:
    """The figures of the demo data, fitted by the default map, and the report page."""
    adata = datasets.synthetic_perturbation(**DEMO)
    t0 = time.perf_counter()
    tl.sparse_ot(adata, groupby="drug", source="control", progress=False, seed=0)
    seconds = time.perf_counter() - t0
    logger.info("fitted %d drugs in %.0f s", len(adata.uns["true_genes"]), seconds)

    figures = {
        "gene_overlap_upset.png": lambda: pl.gene_overlap(adata, return_fig=True),
        "gene_overlap_jaccard.png": lambda: pl.gene_overlap(adata, kind="jaccard", return_fig=True),
        "support_dotplot.png": lambda: pl.support(adata, top_n=14, return_fig=True),
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
        fig.savefig(out / name, dpi=DPI)
        plt.close(fig)
        logger.info("wrote %s", out / name)
    rendered = report_page(adata, out / "report.png")

    sets = {
        t: set(get.perturbed_genes(adata, target=t, selected_only=True)["gene"])
        for t in adata.uns["true_genes"]
    }
    drugs = {}
    for drug, truth in adata.uns["true_genes"].items():
        found, truth = sets[drug], set(map(str, truth))
        others = set().union(*(s for d, s in sets.items() if d != drug))
        drugs[drug] = {
            "selected": len(found),
            "true_found": len(found & truth),
            "true": len(truth),
            "false": sorted(found - truth),
            "own_genes": len(found - others),
        }
        logger.info("%s: %s", drug, drugs[drug])
    shared = sorted(set.intersection(*sets.values()))
    logger.info("genes selected for every drug: %s", ", ".join(shared) or "(none)")
    return {
        "data": "scsparseot.cli.DEMO",
        "call": 'tl.sparse_ot(adata, groupby="drug", source="control", seed=0)',
        "fit_seconds": round(seconds, 1),
        "drugs": drugs,
        "shared_by_all": shared,
        "report_png_rendered": rendered,
    }


def report_page(adata: Any, png: Path) -> bool:
    """Write the report of ``adata`` and capture its page with headless Chromium (``False`` without one)."""
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        logger.warning("no headless Chromium on PATH: %s left as it is", png)
        return False
    with tempfile.TemporaryDirectory() as tmp:
        page = report.write_report(adata, Path(tmp) / "report", groupby=None, title="scsparseot demo")
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp}/p",
        ]
        shot = [browser, *flags, "--window-size=1280,1800", f"--screenshot={png}", page.resolve().as_uri()]
        subprocess.run(shot, check=True, capture_output=True, timeout=180)
    logger.info("wrote %s", png)
    return True


if __name__ == "__main__":
    main()
