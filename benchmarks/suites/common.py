"""Shared machinery of the suites: one method per fresh process (time + peak RSS), data, scores, tables.

:func:`run_isolated` runs one method in a fresh ``multiprocessing`` *spawn* process and returns its
output with the method's wall-clock seconds (measured in that process, imports excluded) and the
process's peak resident set size, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux), both
right after the imports and the input data arrived (``rss_base_kib``) and at the end (``rss_kib``).
Every suite takes its RSS column from here, so each number is the peak of one method alone.

Top-level imports are kept to numpy: the fresh processes import torch and scsparseot themselves.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import resource
import time
import traceback
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from multiprocessing.connection import Connection

SOURCE, TARGET = "control", "drug_1"
#: projections of every sliced-W number reported by the suites (the trainer uses its own 100)
N_PROJECTIONS = 200
RSS_UNIT = "KiB (resource.getrusage(RUSAGE_SELF).ru_maxrss of the method's own spawn process, Linux)"


# ------------------------------------------------------------------------------ fresh processes
def run_isolated(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    threads: int = 1,
    timeout: float | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run method ``kind`` (a key of :data:`RUNNERS`) on ``x → y`` in a fresh spawn process.

    Returns the runner's output (``tx`` = transported source cells, and method extras) plus
    ``status`` (``"ok"``, ``"error"``, ``"timeout"`` or ``"crashed"``), ``seconds`` (the method alone),
    ``rss_kib``, ``rss_base_kib`` and ``process_seconds`` (spawn + imports + method, as seen from here).
    After ``timeout`` seconds the process is terminated and the last progress record is returned.
    """
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, kind, x, y, kwargs, threads), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    sender.close()
    last: dict[str, Any] | None = None
    out: dict[str, Any] | None = None
    try:
        while out is None:
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.terminate()
                out = {"status": "timeout", "error": f"terminated after {timeout:.0f} s"}
                break
            if not receiver.poll(1.0):
                if not proc.is_alive() and not receiver.poll(0.1):
                    out = {"status": "crashed", "error": f"exit code {proc.exitcode}"}
                continue
            try:
                msg = receiver.recv()
            except EOFError:
                out = {"status": "crashed", "error": f"exit code {proc.exitcode}"}
                break
            if msg.pop("type") == "progress":
                last = msg
                if on_progress is not None:
                    on_progress(msg)
            else:
                out = msg
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        receiver.close()
    out["process_seconds"] = time.perf_counter() - t0
    if out["status"] != "ok":
        out["last_progress"] = last
    return out


def _child(
    conn: Connection, kind: str, x: np.ndarray, y: np.ndarray, kwargs: dict[str, Any], threads: int
) -> None:
    """Body of the fresh process: set the threads, run the method, send its result."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)
    import scsparseot  # noqa: F401  (imports before the baseline RSS)

    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_start = time.perf_counter()

    def progress(record: dict[str, Any]) -> None:
        conn.send({"type": "progress", "elapsed": time.perf_counter() - t_start, **record})

    try:
        out = RUNNERS[kind](x, y, progress=progress, **kwargs)
        seconds = time.perf_counter() - t_start
        out.update(status="ok", seconds=seconds)
        if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
            out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    except Exception as err:  # noqa: BLE001 - reported in the results, not raised
        out = {"status": "error", "error": repr(err), "traceback": traceback.format_exc()}
    out["rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["rss_base_kib"] = rss_base
    conn.send({"type": "result", **out})
    conn.close()


def _fit(
    x: np.ndarray, y: np.ndarray, *, progress: Callable[[dict[str, Any]], None], **kwargs: Any
) -> dict[str, Any]:
    from scsparseot import core

    res = core.fit_map(x, y, callback=progress, **kwargs)
    tx = res.map.transport(x)
    return {
        "tx": tx,
        "lam": res.lam,
        "n_iters": res.n_iters,
        "reason": res.reason,
        "converged": res.converged,
        "diverged": res.diverged,
        "fit_seconds": res.seconds,
        "train_err": res.err,
        "train_dim": res.avg_dim,
        "scale": res.map.scale,
        "history": {k: v.tolist() for k, v in res.history.items()},
        "moves": {k: v.tolist() for k, v in res.moves.items()},
    }


def _conditional(
    x: np.ndarray, y: np.ndarray, *, progress: Any = None, support_tol: Any = None, seed: int = 0
) -> dict[str, Any]:
    """The library's default map (state-conditional, state networks trained) with its own gene calls."""
    from scsparseot import core

    fit = core.fit_conditional(x, y, support_tol=support_tol, seed=seed)
    return {
        "tx": fit.map.transport(x),
        "n_iters": fit.n_iters,
        "reason": fit.reason,
        "selected": np.flatnonzero(fit.selected).tolist(),
    }


def _exact(x: np.ndarray, y: np.ndarray, **_: Any) -> dict[str, Any]:
    from scsparseot import baselines

    return {"tx": baselines.exact_ot_map(x, y)}


def _translation(x: np.ndarray, y: np.ndarray, *, support_tol: Any, **_: Any) -> dict[str, Any]:
    from scsparseot import baselines

    return {"tx": baselines.translation_map(x, y, support_tol)}


def _elastic(x: np.ndarray, y: np.ndarray, *, progress: Any = None, **kwargs: Any) -> dict[str, Any]:
    from scsparseot.baselines import elastic_map

    return {"tx": elastic_map(x, y, **kwargs)}


def _rgd(x: np.ndarray, y: np.ndarray, *, progress: Any = None, **kwargs: Any) -> dict[str, Any]:
    from scsparseot.baselines import rgd_map

    return {"tx": rgd_map(x, y, **kwargs)}


def _textbook(
    x: np.ndarray,
    y: np.ndarray,
    *,
    progress: Callable[[dict[str, Any]], None],
    budget_s: float,
    target_err: float,
    target_dim: float,
    **trainer_kwargs: Any,
) -> dict[str, Any]:
    """Train a :class:`~scsparseot.core.Trainer` in chunks of ``eval_every`` steps until it first has
    ``err ≤ target_err`` and ``dim ≤ target_dim`` or ``budget_s`` seconds have passed."""
    from scsparseot import core

    t0 = time.perf_counter()
    trainer = core.Trainer(x, y, **trainer_kwargs)
    trajectory: list[dict[str, float]] = []
    reached: dict[str, float] | None = None

    def record(rec: dict[str, float]) -> None:
        nonlocal reached
        row = {"seconds": time.perf_counter() - t0, "step": rec["step"], "err": rec["err"], "dim": rec["dim"]}
        trajectory.append(row)
        progress(row)
        if reached is None and rec["err"] <= target_err and rec["dim"] <= target_dim:
            reached = row

    reason = "budget"
    while reached is None and time.perf_counter() - t0 < budget_s:
        if trainer.train(trainer.config.eval_every, callback=record, stop_early=False) == "diverged":
            reason = "diverged"
            break
    if reached is not None:
        reason = "reached"
    return {
        "tx": trainer.to_map().transport(x),
        "trajectory": trajectory,
        "reached": reached,
        "n_iters": trainer.step,
        "reason": reason,
        "train_seconds": time.perf_counter() - t0,
    }


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "conditional": _conditional,
    "fit": _fit,
    "exact": _exact,
    "translation": _translation,
    "elastic": _elastic,
    "rgd": _rgd,
    "textbook": _textbook,
}


def available_baselines() -> dict[str, str | None]:
    """``{"elastic": None | why missing, "rgd": ...}``: optional baselines that can be imported here."""
    out: dict[str, str | None] = {}
    for name, attr in (("elastic", "elastic_map"), ("rgd", "rgd_map")):
        try:
            module = __import__("scsparseot.baselines", fromlist=[attr])
            getattr(module, attr)
            out[name] = None
        except (ImportError, AttributeError) as err:
            out[name] = f"skipped: scsparseot.baselines.{attr} could not be imported ({err})"
    return out


def devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when torch sees a GPU (the ICNN fits are then run on both)."""
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def with_device(method: str, device: str) -> str:
    """Method label with the device appended when it is not the CPU."""
    return method if device == "cpu" else f"{method} [{device}]"


# ------------------------------------------------------------------------------------------ data
def load_synthetic(
    *, kind: str, n_cells: int, n_genes: int, n_perturbed: int, seed: int, intensity: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source cells, target cells and the sorted column indices of the true genes."""
    from scsparseot.datasets import synthetic_perturbation

    adata = synthetic_perturbation(
        n_cells=n_cells, n_genes=n_genes, n_perturbed=n_perturbed, intensity=intensity, seed=seed, kind=kind
    )
    drug = adata.obs["drug"].to_numpy()
    x = np.asarray(adata.X[drug == SOURCE], dtype=np.float32)
    y = np.asarray(adata.X[drug == TARGET], dtype=np.float32)
    truth = adata.var_names.get_indexer(adata.uns["true_genes"][TARGET])
    if np.any(truth < 0):
        msg = "true gene names missing from var_names"
        raise RuntimeError(msg)
    return x, y, np.sort(truth)


# ---------------------------------------------------------------------------------------- tables
def finite(v: Any) -> bool:
    """Whether ``v`` is a finite number."""
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v)


def aggregate(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], metrics: Iterable[str]
) -> list[dict[str, Any]]:
    """Mean and sample sd (ddof=1; 0 for one value) of each metric per group of ``keys``, in row order.

    Non-finite and missing values are left out (``n`` says how many values went in).
    """
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    out = []
    for key, mine in groups.items():
        agg: dict[str, Any] = dict(zip(keys, key, strict=True))
        agg["n_seeds"] = len(mine)
        for m in metrics:
            v = np.array([r[m] for r in mine if finite(r.get(m))], dtype=np.float64)
            agg[m] = (
                {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}
                if v.size
                else {"mean": None, "sd": None, "n": 0}
            )
        statuses = [r.get("status", "ok") for r in mine]
        agg["status"] = {s: statuses.count(s) for s in sorted(set(statuses))}
        out.append(agg)
    return out


def pm(a: dict[str, Any] | None, fmt: str) -> str:
    """``mean ± sd`` of an aggregate entry (``–`` when empty)."""
    if not a or a.get("mean") is None:
        return "–"
    return f"{a['mean']:{fmt}} ± {a['sd']:{fmt}}" if a.get("n", 1) > 1 else f"{a['mean']:{fmt}}"


def cell(v: Any, fmt: str) -> str:
    """One table cell: a number in ``fmt``, ``–`` for missing values, ``inf``/``nan`` spelled out."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float | np.number):
        return f"{v:{fmt}}" if math.isfinite(v) else str(float(v))
    return str(v)


def markdown_table(header: Sequence[str], lines: Iterable[Sequence[str]], align: str | None = None) -> str:
    """A markdown table; ``align`` is one character per column (``l`` or ``r``), right by default."""
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---" if a == "l" else "---:" for a in align]
    body = [header, sep, *lines]
    return "\n".join("| " + " | ".join(map(str, row)) + " |" for row in body) + "\n"


def target(name: str, rule: str, value: Any, met: bool, **extra: Any) -> dict[str, Any]:
    """One target record of the results."""
    return {"name": name, "rule": rule, "value": value, "met": bool(met), **extra}


def mib(kib: Any) -> float | None:
    """KiB to MiB (``None`` stays ``None``)."""
    return None if kib is None else float(kib) / 1024.0


def score_row(
    tx: np.ndarray, x: np.ndarray, y: np.ndarray, truth: np.ndarray, tol: np.ndarray
) -> dict[str, float]:
    """Scores of one map (``benchmarks/foundation.py``'s ``score``: avg dim, dim on true/other genes,
    precision@k with k = number of true genes, sliced-W with 200 projections, data units)."""
    from foundation import score

    return score(tx, x, y, truth, np.broadcast_to(np.asarray(tol, dtype=np.float32), (x.shape[1],)))


def method_row(out: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The fields of a row that come from :func:`run_isolated` (no arrays, histories kept out)."""
    keep = (
        "status",
        "error",
        "seconds",
        "process_seconds",
        "lam",
        "n_iters",
        "reason",
        "converged",
        "diverged",
        "fit_seconds",
        "train_err",
        "train_dim",
        "cuda_peak_mib",
        "last_progress",
    )
    row = {**fields, **{k: out[k] for k in keep if k in out}}
    if "history" in out:
        row["iters_trained"] = iters_trained(out["history"].get("step", []))
    row["rss_mib"] = mib(out.get("rss_kib"))
    row["rss_base_mib"] = mib(out.get("rss_base_kib"))
    return row


def iters_trained(steps: Sequence[float], eval_every: int = 50) -> int:
    """Iterations trained in all, from the steps of a fit's evaluations.

    A λ search that rejects a move restores the trainer's step counter, so ``FitResult.n_iters``
    leaves out the iterations spent on rejected moves; here an evaluation whose step is not above
    the previous one counts ``eval_every`` iterations (exact when the move length is a multiple of
    ``eval_every``, as with the defaults).
    """
    total, last = 0.0, 0.0
    for s in steps:
        total += s - last if s > last else eval_every
        last = s
    return int(total)


def say(msg: str) -> None:
    """Print one progress line (flushed)."""
    print(msg, flush=True)
