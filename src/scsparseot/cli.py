"""Command line: ``scsparseot fit``, ``scsparseot report`` and ``scsparseot demo``. The only module that prints.

Exit status: 0 when everything worked; 2 for bad arguments or input (a one-line message on stderr,
no traceback); 1 when a fit failed (the message names the drug and the error) or, for ``demo``,
when the genes found do not pass the demo's check.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Executor

    from anndata import AnnData

DEMO = {"n_cells": 400, "n_genes": 200, "n_perturbed": 12, "n_drugs": 3, "overlap": 0.5, "seed": 0}
#: The demo passes when every drug's selected genes contain all its planted genes (recall 1) and
#: at least this share of them are planted (precision), so selecting every gene cannot pass.
DEMO_MIN_PRECISION = 0.8
HIGHLY_VARIABLE = "highly_variable"


class UsageError(Exception):
    """Bad input found by the command line itself (exit status 2)."""


# ---------------------------------------------------------------------------------------------- demo
def demo_check(found: Sequence[str], truth: set[str]) -> tuple[float, float, bool]:
    """Precision and recall of the genes ``found`` against the planted ``truth``, and whether they pass.

    Passing needs every planted gene (recall 1) and precision at least :data:`DEMO_MIN_PRECISION`,
    so a map that selects every gene fails.
    """
    hits = set(truth).intersection(found)
    precision = len(hits) / len(set(found)) if len(found) else 0.0
    recall = len(hits) / len(truth) if truth else 1.0
    return precision, recall, recall == 1.0 and precision >= DEMO_MIN_PRECISION


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from . import datasets, get, tl

    _check_out_dir(args.out, args.report)
    adata = datasets.synthetic_perturbation(**{**DEMO, "seed": args.seed})
    print(
        f"Synthetic data: {adata.n_obs} cells × {adata.n_vars} genes; control and {DEMO['n_drugs']} drugs, "
        f"each moving {DEMO['n_perturbed']} genes by 2 SD ({int(DEMO['overlap'] * 100)}% of them shared)."
    )
    tl.sparse_ot(
        adata,
        groupby="drug",
        source="control",
        lam=args.lam,
        n_iters=args.n_iters,
        device=args.device,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    summary = get.summary(adata).set_index("target")
    ok = True
    for drug, truth in adata.uns["true_genes"].items():
        table = get.perturbed_genes(adata, target=drug, selected_only=True)
        found, truth = table["gene"].tolist(), set(np.asarray(truth).tolist())
        precision, recall, passed = demo_check(found, truth)
        ok &= passed
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
    print(
        f"Demo check {'passed' if ok else 'FAILED'}: every drug needs recall 1.00 and precision "
        f"≥ {DEMO_MIN_PRECISION:.2f} against the planted genes."
    )
    if args.out:
        adata.write_h5ad(args.out)
        print(f"Wrote {args.out}")
    if args.report:
        _write_report(adata, args.report, key="sparse_ot", groupby=None, source_file=args.out)
    return 0 if ok else 1


# ----------------------------------------------------------------------------------------------- fit
def _read(path: str, *, backed: bool = False) -> AnnData:
    import anndata as ad

    if not Path(path).is_file():
        msg = f"input file {path!r} does not exist."
        raise UsageError(msg)
    try:
        # backed: X stays on disk and the fit reads the cells it needs from the file
        return ad.read_h5ad(path, backed="r" if backed else None)
    except OSError as err:
        msg = f"cannot read {path!r} as an .h5ad file ({err})."
        raise UsageError(msg) from err


def _check_out_dir(*paths: str | None) -> None:
    """Fail before a long fit, not after it, when an output's folder does not exist."""
    for path in paths:
        if path is not None and not Path(path).resolve().parent.is_dir():
            msg = f"the folder of the output {path!r} does not exist; create it first."
            raise UsageError(msg)


def _genes(adata: AnnData, spec: str | None) -> list[str] | object | None:
    """``--genes``: ``highly_variable`` (a mask from ``var``) or a file with one gene name a line."""
    if spec is None:
        return None
    if spec == HIGHLY_VARIABLE:
        if HIGHLY_VARIABLE not in adata.var:
            msg = (
                "--genes highly_variable needs adata.var['highly_variable']; run "
                "scanpy.pp.highly_variable_genes on the data first, or pass a file of gene names."
            )
            raise UsageError(msg)
        return adata.var[HIGHLY_VARIABLE].to_numpy(dtype=bool)
    path = Path(spec)
    if not path.is_file():
        msg = f"--genes {spec!r} is neither 'highly_variable' nor an existing file of gene names."
        raise UsageError(msg)
    names = [line.strip() for line in path.read_text().splitlines()]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        msg = f"the gene file {spec!r} lists no genes (one name a line; '#' starts a comment)."
        raise UsageError(msg)
    return names


def _init_worker() -> None:
    """Process-pool initializer: one torch thread per worker, so that workers share the cores."""
    import torch

    torch.set_num_threads(1)


def _torch_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count to ``n`` (if given); returns the count before."""
    import torch

    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    return old


def _executor(jobs: int) -> Executor | None:
    if jobs <= 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    # the fit hands this process's torch thread count to every worker: one each
    torch.set_num_threads(1)
    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    )


class _LineHandler(logging.Handler):
    """Progress for logs (stdout not a terminal): one printed line per message, no carriage returns."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"[{self.formatter.formatTime(record, '%H:%M:%S')}] {record.getMessage()}", flush=True)


def _progress_lines(enabled: bool) -> Callable[[], None]:
    """Print the fit's per-drug INFO messages as lines; returns a function that stops it."""
    if not enabled:
        return lambda: None
    logger = logging.getLogger("scsparseot.tl")
    handler = _LineHandler(logging.INFO)
    handler.setFormatter(logging.Formatter())
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def stop() -> None:
        logger.removeHandler(handler)
        logger.setLevel(old)

    return stop


def _fit(args: argparse.Namespace) -> int:
    from . import get, tl

    _check_out_dir(args.out, args.report)
    adata = _read(args.input, backed=args.backed)
    genes = _genes(adata, args.genes)
    tty = sys.stdout.isatty()
    print(f"Read {args.input}: {adata.n_obs} cells × {adata.n_vars} genes.", flush=True)
    stop = _progress_lines(not tty and not args.verbose)
    threads = _torch_threads()
    executor = _executor(args.jobs)
    try:
        tl.sparse_ot(
            adata,
            groupby=args.groupby,
            source=args.source,
            target=args.target or None,
            layer=args.layer,
            genes=genes,
            method=args.method,
            penalty=args.penalty,
            lam=args.lam,
            max_genes=args.max_genes,
            support_tol=args.support_tol,
            min_support=args.min_support,
            fdr=args.fdr,
            n_null=args.n_null,
            n_runs=args.n_runs,
            n_iters=args.n_iters,
            batch_size=args.batch_size,
            device=args.device,
            seed=args.seed,
            executor=executor,
            checkpoint_dir=args.checkpoint_dir,
            progress=tty,
            key_added=args.key_added,
        )
    finally:
        stop()
        if executor is not None:
            executor.shutdown(cancel_futures=True)
            _torch_threads(threads)
    adata.write_h5ad(args.out)
    print(get.summary(adata, args.key_added).to_string(index=False))
    print(get.perturbed_genes(adata, args.key_added, selected_only=True).to_string(index=False))
    for message in get.fit_warnings(adata, args.key_added):
        print(f"warning: {message}")
    print(f"Wrote {args.out}")
    if args.report:
        _write_report(adata, args.report, key=args.key_added, groupby=None, source_file=args.out)
    return 0


# -------------------------------------------------------------------------------------------- report
def _write_report(
    adata: AnnData,
    out: str,
    *,
    key: str,
    groupby: str | None,
    source_file: str | None,
    top_n: int = 20,
    embed_images: bool = True,
) -> None:
    from .report import write_report

    page = write_report(
        adata,
        out,
        key=key,
        groupby=groupby,
        top_n=top_n,
        source_file=None if source_file is None else Path(source_file).name,
        embed_images=embed_images,
    )
    print(f"Wrote the report to {page.parent}/ (open {page})")


def _report(args: argparse.Namespace) -> int:
    adata = _read(args.input, backed=True)  # X is not needed
    _write_report(
        adata,
        args.out,
        key=args.key,
        groupby=args.groupby,
        source_file=args.input,
        top_n=args.top_n,
        embed_images=not args.link_images,
    )
    return 0


# ------------------------------------------------------------------------------------- argument types
def _lam(text: str) -> float | str:
    if text == "auto":
        return text
    value = _number(text, "a number ≥ 0 or 'auto'")
    if value < 0:
        msg = f"expected a number ≥ 0 or 'auto', got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError as err:
        msg = f"expected {what}, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from err


def _positive(text: str) -> float:
    value = _number(text, "a positive number")
    if not value > 0:
        msg = f"expected a positive number, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _share(text: str) -> float:
    value = _number(text, "a share between 0 and 1")
    if not 0 <= value <= 1:
        msg = f"expected a share between 0 and 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _fdr(text: str) -> float | None:
    if text.lower() == "none":
        return None
    value = _number(text, "a rate in (0, 1] or 'none'")
    if not 0 < value <= 1:
        msg = f"expected a rate in (0, 1] or 'none', got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _int(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as err:
            msg = f"expected an integer ≥ {minimum}, got {text!r}"
            raise argparse.ArgumentTypeError(msg) from err
        if value < minimum:
            msg = f"expected an integer ≥ {minimum}, got {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = f"integer ≥ {minimum}"
    return parse


class _Help(argparse.RawDescriptionHelpFormatter):
    """Adds ``(default: ...)`` to every option with a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "%(default)" not in text
            and action.default is not None
            and action.default is not False
            and action.default != argparse.SUPPRESS
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


# ------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``scsparseot`` command."""
    from typing import get_args

    from ._types import MethodName, PenaltyName

    parser = argparse.ArgumentParser(
        prog="scsparseot",
        description="Sparse OT maps: which genes does each drug move?",
        epilog="Exit status: 0 ok; 1 a fit failed (or the demo's check); 2 bad arguments or input.",
        formatter_class=_Help,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fit,report,demo}")

    fit = sub.add_parser(
        "fit",
        help="fit one map per drug on an .h5ad file and write the results to another",
        description="Fit one sparse OT map per drug (scsparseot.tl.sparse_ot) and write the annotated data.",
        epilog="Exit status: 0 ok; 1 a fit failed (the drug and the error are named); 2 bad arguments or input.",
        formatter_class=_Help,
    )
    fit.add_argument("input", help="input .h5ad with control and treated cells")
    fit.add_argument("--out", required=True, metavar="FILE", help="output .h5ad (the input plus the results)")
    fit.add_argument("--report", metavar="DIR", help="also write the report (as `scsparseot report`) to DIR")
    data = fit.add_argument_group("data")
    data.add_argument("--groupby", default="drug", help="obs column with each cell's drug")
    data.add_argument("--source", default="control", help="label of the control cells in --groupby")
    data.add_argument(
        "--target", nargs="+", metavar="LABEL", help="drugs to fit (default: every group but the source)"
    )
    data.add_argument("--layer", help="layer to fit instead of X (e.g. log-normalised expression)")
    data.add_argument(
        "--genes",
        metavar="FILE|highly_variable",
        help="genes to fit: a file with one gene name a line, or 'highly_variable' for var['highly_variable'] (default: all)",
    )
    data.add_argument(
        "--backed",
        action="store_true",
        help="read X from the file as needed instead of loading it (large data)",
    )
    model = fit.add_argument_group("map and sparsity")
    model.add_argument(
        "--method",
        choices=get_args(MethodName),
        help="map, or a baseline in the same output (default: conditional, or sparse_icnn with --lam or --max-genes)",
    )
    model.add_argument("--penalty", default="stvs", choices=get_args(PenaltyName), help="sparsity penalty")
    model.add_argument(
        "--lam",
        type=_lam,
        help="penalty strength λ ≥ 0 (default 0.5 per state network of the conditional map), or 'auto' to search it per drug (sparse_icnn)",
    )
    model.add_argument(
        "--max-genes",
        type=_positive,
        help="limit on the average number of genes moved per cell (instead of --lam)",
    )
    model.add_argument(
        "--support-tol",
        type=_positive,
        help="a displacement counts when |Δ| exceeds this (data units; default 0.1 × the gene's control SD)",
    )
    calls = fit.add_argument_group("gene calls")
    calls.add_argument(
        "--fdr",
        type=_fdr,
        default=0.05,
        help="false discovery rate of the gene calls, or 'none' to skip the null fits",
    )
    calls.add_argument(
        "--n-null", type=_int(1), default=3, help="control-vs-control null maps per drug, used with --fdr"
    )
    calls.add_argument(
        "--min-support",
        type=_share,
        default=0.1,
        help="a selected gene moves in at least this share of control cells",
    )
    calls.add_argument(
        "--n-runs", type=_int(0), default=0, help="stability refits on 80%% subsamples per drug"
    )
    run = fit.add_argument_group("training and resources")
    run.add_argument(
        "--n-iters",
        type=_int(0),
        help="maximum training iterations per drug with a fixed λ (0: the start map)",
    )
    run.add_argument("--batch-size", type=_int(1), help="cells per training batch (default: the trainer's)")
    run.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu' or 'cuda'")
    run.add_argument("--seed", type=int, default=0, help="random seed (each drug gets its own stream)")
    run.add_argument(
        "--jobs",
        type=_int(1),
        default=1,
        help="worker processes fitting drugs in parallel, one torch thread each; 1 fits in this process",
    )
    run.add_argument(
        "--checkpoint-dir", metavar="DIR", help="save each finished drug here; a rerun resumes from it"
    )
    run.add_argument("--key-added", default="sparse_ot", help="prefix of every result field")
    fit.set_defaults(func=_fit)

    report = sub.add_parser(
        "report",
        help="write a per-drug report (TSV tables, PNG figures, index.html) from a fitted .h5ad",
        description="Write a per-drug report of a fit from its results file; nothing is refitted.",
        formatter_class=_Help,
    )
    report.add_argument("input", help="results .h5ad written by `scsparseot fit`")
    report.add_argument("--out", required=True, metavar="DIR", help="folder to write the report into")
    report.add_argument(
        "--key", default="sparse_ot", help="key of the results in the file (fit's --key-added)"
    )
    report.add_argument("--groupby", help="obs column (e.g. cell_type) to show each drug's response by")
    report.add_argument(
        "--top-n", type=_int(1), default=20, help="genes per drug in the displacement heatmap"
    )
    report.add_argument(
        "--link-images",
        action="store_true",
        help="link the PNG files instead of embedding them in index.html",
    )
    report.set_defaults(func=_report)

    demo = sub.add_parser(
        "demo",
        help="fit maps on the embedded synthetic 3-drug data and check the genes found",
        description=(
            "Fit maps on synthetic data with planted genes and print each drug's genes. Exits 1 unless "
            f"every drug finds all its planted genes (recall 1) with precision ≥ {DEMO_MIN_PRECISION}."
        ),
        formatter_class=_Help,
    )
    demo.add_argument(
        "--lam",
        type=_lam,
        help="penalty strength λ ≥ 0 (default 0.5 per state network of the conditional map), or 'auto' to search it per drug (sparse_icnn)",
    )
    demo.add_argument(
        "--n-iters",
        type=_int(0),
        help="maximum training iterations per drug with a fixed λ (0: the start map)",
    )
    demo.add_argument("--device", default="auto", help="'auto' (CUDA when available), 'cpu' or 'cuda'")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and the fits")
    demo.add_argument("--out", metavar="FILE", help="also write the annotated data to this .h5ad file")
    demo.add_argument("--report", metavar="DIR", help="also write the report to DIR")
    demo.set_defaults(func=_demo)
    return parser


def _message(err: BaseException) -> str:
    # str(KeyError("x")) is "'x'": show the message itself
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scsparseot`` command; returns the exit status."""
    from .tl._context import failed_target

    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except Exception as err:
        target = failed_target(err)
        if target is not None:
            if args.verbose:
                logging.getLogger(__name__).exception("the fit for %r failed", target)
            print(
                f"error: the fit for {target!r} failed: {type(err).__name__}: {_message(err)}",
                file=sys.stderr,
            )
            return 1
        if isinstance(err, UsageError | KeyError | ValueError | TypeError | FileNotFoundError):
            print(f"error: {_message(err)}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
