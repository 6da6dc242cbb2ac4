"""Command line: ``scsparseot demo`` and ``scsparseot fit``. The only module that prints."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

DEMO = {"n_cells": 400, "n_genes": 200, "n_perturbed": 12, "n_drugs": 3, "overlap": 0.5, "seed": 0}


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from . import datasets, get, tl

    adata = datasets.synthetic_perturbation(**{**DEMO, "seed": args.seed})
    print(
        f"Synthetic data: {adata.n_obs} cells × {adata.n_vars} genes; control and {DEMO['n_drugs']} drugs, "
        f"each moving {DEMO['n_perturbed']} genes by 2 SD ({int(DEMO['overlap'] * 100)}% of them shared)."
    )
    tl.sparse_ot(
        adata, groupby="drug", source="control", n_iters=args.n_iters, device=args.device, seed=args.seed
    )
    summary = get.summary(adata).set_index("target")
    ok = True
    for drug, truth in adata.uns["true_genes"].items():
        table = get.perturbed_genes(adata, target=drug, selected_only=True)
        found, truth = table["gene"].tolist(), set(np.asarray(truth).tolist())
        hits = truth.intersection(found)
        precision = len(hits) / len(found) if found else 0.0
        recall = len(hits) / len(truth)
        ok &= recall == 1.0
        row = summary.loc[drug]
        print(
            f"\n{drug}: {len(found)} genes selected — precision {precision:.2f}, recall {recall:.2f} "
            f"(avg dim {row['avg_dim']:.1f}, sliced-W {row['sliced_w']:.3f}, {row['seconds']:.0f} s, {row['reason']})"
        )
        for _, r in table.iterrows():
            mark = "✓" if r["gene"] in truth else "✗"
            print(
                f"  {mark} {r['gene']:<10} Δ = {r['mean_displacement']:+.2f}  moves in {r['support_fraction']:.0%} of cells"
            )
    shared = set.intersection(
        *(
            set(get.perturbed_genes(adata, target=d, selected_only=True)["gene"])
            for d in adata.uns["true_genes"]
        )
    )
    print(f"\nGenes selected for every drug: {', '.join(sorted(shared)) or '(none)'}")
    if args.out:
        adata.write_h5ad(args.out)
        print(f"Wrote {args.out}")
    return 0 if ok else 1


def _fit(args: argparse.Namespace) -> int:
    import anndata as ad

    from . import get, tl

    # backed: X stays on disk and the fit reads the cells it needs from the file
    adata = ad.read_h5ad(args.input, backed="r" if args.backed else None)
    tl.sparse_ot(
        adata,
        groupby=args.groupby,
        source=args.source,
        target=args.target or None,
        layer=args.layer,
        penalty=args.penalty,
        lam=args.lam,
        max_genes=args.max_genes,
        n_iters=args.n_iters,
        device=args.device,
        seed=args.seed,
        key_added=args.key_added,
    )
    adata.write_h5ad(args.out)
    print(get.summary(adata, args.key_added).to_string(index=False))
    print(get.perturbed_genes(adata, args.key_added, selected_only=True).to_string(index=False))
    print(f"Wrote {args.out}")
    return 0


def _lam(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError as err:
        msg = f"expected a number or 'auto', got {text!r}"
        raise argparse.ArgumentTypeError(msg) from err


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scsparseot`` command."""
    parser = argparse.ArgumentParser(
        prog="scsparseot", description="Sparse OT maps: which genes does each drug move?"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="fit maps on the embedded synthetic 3-drug data and print each drug's genes"
    )
    demo.add_argument("--lam", type=_lam, default="auto", help="penalty strength, or 'auto' (default)")
    demo.add_argument("--n-iters", type=int, help="maximum iterations per drug with a fixed --lam")
    demo.add_argument("--device", default="auto")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", help="also write the annotated data to this .h5ad file")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser("fit", help="fit maps on an .h5ad file and write the results to another")
    fit.add_argument("input", help="input .h5ad")
    fit.add_argument("--out", required=True, help="output .h5ad")
    fit.add_argument("--groupby", default="drug")
    fit.add_argument("--source", default="control")
    fit.add_argument("--target", nargs="*", help="target groups (default: every group but the source)")
    fit.add_argument("--layer")
    fit.add_argument(
        "--backed",
        action="store_true",
        help="read X from the file as needed instead of loading it (large data)",
    )
    fit.add_argument("--penalty", default="stvs", choices=["stvs", "l1", "l0", "k_overlap"])
    fit.add_argument("--lam", type=_lam, default="auto", help="penalty strength, or 'auto' (default)")
    fit.add_argument("--max-genes", type=float, help="limit on the average number of moved genes per cell")
    fit.add_argument("--n-iters", type=int)
    fit.add_argument("--device", default="auto")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--key-added", default="sparse_ot")
    fit.set_defaults(func=_fit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scsparseot`` command."""
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except (KeyError, ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
