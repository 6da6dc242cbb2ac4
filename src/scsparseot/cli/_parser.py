"""The ``scsparseot`` argument parser: subcommands, option groups and checked argument types."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._demo import DEMO_MIN_PRECISION, run_demo
from ._fit import run_fit
from ._report import run_report

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["build_parser"]


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
    value = _number(text, "a rate in (0, 1) or 'none'")
    if not 0 < value < 1:
        msg = f"expected a rate in (0, 1) or 'none', got {text!r}"
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

    from .._types import MethodName, PenaltyName

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
        "--n-null",
        type=_int(1),
        default=3,
        help="control-vs-control null maps per drug, used with --fdr (not by the conditional map, which tests genes itself)",
    )
    calls.add_argument(
        "--min-support",
        type=_share,
        default=0.1,
        help="without p-values, a selected gene moves in at least this share of control cells (not the conditional map)",
    )
    calls.add_argument(
        "--n-runs", type=_int(0), default=0, help="stability refits on 80%% subsamples per drug (sparse_icnn)"
    )
    states = fit.add_argument_group(
        "states of the conditional map",
        "settings of scsparseot.core.ConditionalConfig (--method conditional only)",
    )
    states.add_argument(
        "--state-key", help="obs column of each cell's state (e.g. cell_type), used as the map's states"
    )
    states.add_argument(
        "--replicate-key",
        help="obs column of each cell's replicate (well, plate, donor): genes are tested across replicates",
    )
    states.add_argument("--n-states", type=_int(1), help="largest number of cell states (default 6)")
    states.add_argument(
        "--n-pcs", type=_int(1), help="principal components of the state embedding (default 20)"
    )
    states.add_argument(
        "--no-spread", action="store_true", help="do not test or move genes for a change of spread alone"
    )
    states.add_argument(
        "--no-empirical-bayes",
        action="store_true",
        help="move only the selected genes in responding states (no empirical-Bayes additions)",
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
    fit.set_defaults(func=run_fit)

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
    report.set_defaults(func=run_report)

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
    demo.set_defaults(func=run_demo)
    return parser
