"""``scsparseot fit``: fit the maps on an ``.h5ad`` file, in this process or in worker processes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ._io import UsageError, check_out_dir, read_input
from ._report import write_report_dir

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from concurrent.futures import Executor

    from anndata import AnnData

    from ..core import ConditionalConfig

__all__ = ["run_fit"]

HIGHLY_VARIABLE = "highly_variable"


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
    """Process-pool initializer: one torch and one BLAS thread per worker, so that workers share the cores."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


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


def _conditional_config(args: argparse.Namespace) -> ConditionalConfig | None:
    """The conditional map's settings from the command line, or ``None`` when none is given."""
    from ..core import ConditionalConfig

    given = {
        "n_states": args.n_states,
        "n_pcs": args.n_pcs,
        "spread": False if args.no_spread else None,
        "empirical_bayes": False if args.no_empirical_bayes else None,
    }
    given = {k: v for k, v in given.items() if v is not None}
    return ConditionalConfig(**given) if given else None


def run_fit(args: argparse.Namespace) -> int:
    """``scsparseot fit``: fit, write the results and print their summary; returns the exit status."""
    from .. import get, tl

    check_out_dir(args.out, args.report)
    adata = read_input(args.input, backed=args.backed)
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
            config=_conditional_config(args),
            device=args.device,
            seed=args.seed,
            executor=executor,
            checkpoint_dir=args.checkpoint_dir,
            progress=tty,
            key_added=args.key_added,
            state_key=args.state_key,
            replicate_key=args.replicate_key,
        )
    finally:
        stop()
        if executor is not None:
            executor.shutdown(cancel_futures=True)
            _torch_threads(threads)
    adata.write_h5ad(args.out)
    print(get.summary(adata, key=args.key_added).to_string(index=False))
    print(get.perturbed_genes(adata, key=args.key_added, selected_only=True).to_string(index=False))
    for message in get.fit_warnings(adata, key=args.key_added):
        print(f"warning: {message}")
    print(f"Wrote {args.out}")
    if args.report:
        write_report_dir(adata, args.report, key=args.key_added, groupby=None, source_file=args.out)
    return 0
