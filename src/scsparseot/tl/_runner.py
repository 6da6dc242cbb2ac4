"""Run every target's fit: one after the other with progress bars, or on an executor; resume from checkpoints."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..core import named_seed, prepare_source
from . import _checkpoint
from ._context import fitting
from ._fit_target import torch_num_threads
from ._methods import uses

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from concurrent.futures import Executor

    from ..core import CellData, MapFit
    from ._args import SparseOTArgs
    from ._spec import CellDesign, FitSpec

logger = logging.getLogger(__name__)

__all__ = ["run_fits", "run_targets"]


def run_targets(
    x: CellData,
    ys: dict[str, CellData],
    args: SparseOTArgs,
    genes: list[str],
    *,
    fit: Callable[..., MapFit],
    executor: Executor | None,
    progress: bool,
) -> dict[str, MapFit]:
    """Fit every target of a :func:`~scsparseot.tl.sparse_ot` call with :func:`run_fits`.

    The fits share ``args.fit_spec`` (with this process's torch thread count) and each target
    gets its own seed, derived from ``args.seed`` and the target's name. The state-conditional
    map's source side (:func:`~scsparseot.core.prepare_source`, seeded by ``args.seed``) is
    computed once, here, and given to every target's fit as ``source=``, so that a target fitted
    alone gets the same result as in a screen.

    Parameters
    ----------
    x
        The source cells.
    ys
        The cells of each target.
    args
        The checked arguments of the call.
    genes
        Names of the fitted genes.
    fit, executor, progress
        As for :func:`run_fits`.

    Returns
    -------
    dict
        The :class:`~scsparseot.core.MapFit` of each target.
    """
    spec = args.fit_spec(x, torch_num_threads())
    seeds = {t: named_seed(args.seed, t) for t in args.target_rows}
    shared = None
    if spec.method == "conditional":

        def shared() -> dict[str, Any]:
            return {"source": prepare_source(x.to_numpy(), config=spec.config, seed=args.seed)}

    return run_fits(
        x,
        ys,
        spec,
        seeds,
        genes,
        fit=fit,
        executor=executor,
        progress=progress,
        checkpoint_dir=args.checkpoint_dir,
        designs=args.designs(),
        shared=shared,
    )


def run_fits(
    x: CellData,
    ys: dict[str, CellData],
    spec: FitSpec,
    seeds: dict[str, int],
    genes: list[str],
    *,
    fit: Callable[..., MapFit],
    executor: Executor | None,
    progress: bool,
    checkpoint_dir: str | os.PathLike[str] | None,
    designs: dict[str, CellDesign] | None = None,
    shared: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, MapFit]:
    """Fit every target of ``ys`` with ``fit`` and return their results in the order of ``ys``.

    Parameters
    ----------
    x
        The source cells.
    ys
        The cells of each target.
    spec
        What every fit shares.
    seeds
        Each target's seed.
    genes
        Names of the fitted genes.
    fit
        ``fit(x, y, spec, seed, genes[, callback]) -> MapFit``, normally
        :func:`~scsparseot.tl._fit_target.fit_target` (passed in, so that a caller can substitute it).
    executor
        Fits the targets in parallel, one task each; ``None`` fits them here, one after the other,
        each with a progress bar driven by the fit's callback.
    progress
        Show the progress bars.
    checkpoint_dir
        Where finished targets are saved and from where those of an interrupted identical run are
        loaded instead of being refitted.
    designs
        Each target's cell labels (states, replicates), passed to ``fit`` as ``design=``; ``None``
        or a missing target: none.
    shared
        Called once, when a target is left to fit, for keyword arguments given to every fit (the
        work on the source that the fits share). On a Dask executor these and ``x`` are
        scattered to every worker once (:func:`_to_workers`).

    Returns
    -------
    dict
        The :class:`~scsparseot.core.MapFit` of each target.
    """
    from tqdm.auto import tqdm

    out: dict[str, MapFit] = {}
    keys = {}
    # a target's labels go to its fit as design= (a fit without labels is called as before)
    extra = {t: {"design": d} for t, d in (designs or {}).items() if d is not None}
    if checkpoint_dir is not None:
        for t, y in ys.items():
            keys[t] = _checkpoint.fingerprint(x, y, spec, seeds[t], genes, extra.get(t, {}).get("design"))
            done = _checkpoint.load(checkpoint_dir, t, keys[t])
            if done is not None:
                logger.info("resumed %r from its checkpoint", t)
                out[t] = done
    todo = {t: y for t, y in ys.items() if t not in out}
    common = shared() if shared is not None and todo else {}

    def finished(t: str, fit: MapFit) -> None:
        out[t] = fit
        if checkpoint_dir is not None:
            _checkpoint.save(checkpoint_dir, t, fit, keys[t])

    if executor is not None:
        x_task, common_task = _to_workers(executor, x, common) if todo else (x, common)
        futures = {
            t: executor.submit(fit, x_task, y, spec, seeds[t], genes, **common_task, **extra.get(t, {}))
            for t, y in todo.items()
        }
        for t in tqdm(futures, desc="targets", disable=not progress):
            with fitting(t):
                finished(t, futures[t].result())
            logger.info("fitted %r (%s)", t, out[t].reason)
        return {t: out[t] for t in ys}
    for t, y in todo.items():
        t0 = time.perf_counter()
        # a fixed-λ sparse ICNN knows its steps; a λ search and the states of the default do not
        total = spec.config.n_iters if spec.method == "sparse_icnn" and not spec.searches_lam else None
        with tqdm(
            total=total, desc=str(t), disable=not progress or not uses(spec.method, "n_iters"), leave=False
        ) as bar:

            def update(record: dict[str, float], bar: Any = bar) -> None:
                # a rejected λ move rolls the step counter back; the bar never goes backwards
                bar.update(max(0, int(record["step"]) - bar.n))
                state = {"state": int(record["state"])} if "state" in record else {}
                bar.set_postfix(
                    **state,
                    lam=f"{record['lam']:.3g}",
                    dim=f"{record['dim']:.1f}",
                    err=f"{record['err']:.3g}",
                )

            with fitting(t):
                finished(t, fit(x, y, spec, seeds[t], genes, update, **common, **extra.get(t, {})))
        logger.info("fitted %r in %.1f s (%s)", t, time.perf_counter() - t0, out[t].reason)
    return {t: out[t] for t in ys}


def _to_workers(executor: Executor, x: CellData, common: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``x`` and the keyword arguments every task shares, sent to the workers of a Dask executor once.

    Dask's ``client.get_executor()`` would send them with every task (a warning of a large graph
    for each); scattered to every worker, each task refers to them instead and Dask hands the
    task the data. Any other executor gets them as they are.
    """
    client = getattr(executor, "_client", None)
    if not callable(getattr(client, "scatter", None)):
        return x, common
    x_future, *futures = client.scatter([x, *common.values()], broadcast=True, hash=False)
    return x_future, dict(zip(common, futures, strict=True))
