"""``python benchmarks/run.py all``: every results file of ``benchmarks/results/`` from one command.

Each job is the exact command that wrote one results file, run in its own process with one torch
thread. ``--jobs 2`` runs two at a time (on 2 cores, one thread each: the fits barely slow down, but
the absolute seconds of timing benchmarks get noisier; they report ratios within one run).
``--missing`` skips the files that already name the current code commit from a clean tree, so an
interrupted run resumes where it stopped. ``--quick`` runs every job on small data into
``benchmarks/results/quick/`` (a smoke test of every script, not results).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _meta import code_state

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Job:
    """One results file (``name``) and the commands that write it, in full and on small data."""

    name: str
    argv: tuple[str, ...]
    quick: tuple[str, ...]
    needs_cuda: bool = False


def _suite(name: str, *extra: str) -> Job:
    return Job(name, ("run.py", name, *extra), ("run.py", name, "--quick"))


#: every results file, in the order they run (longest first, so that two lanes end together)
JOBS: tuple[Job, ...] = (
    _suite("screen"),
    _suite("heterogeneous"),
    _suite("prediction"),
    _suite("table2", "--seeds", "0", "1"),
    _suite("lowdim"),
    _suite("calibration"),
    _suite("design"),
    Job(
        "de_comparison",
        ("de_comparison.py",),
        (
            "de_comparison.py",
            "--seeds",
            "0",
            "--settings",
            "shift",
            "variance",
            "--methods",
            "scsparseot (default)",
            "t-test",
            "--name",
            "de_comparison",
        ),
    ),
    Job(
        "de_comparison_default",
        (
            "de_comparison.py",
            "--methods",
            "scsparseot (default)",
            "t-test",
            "--name",
            "de_comparison_default",
        ),
        (
            "de_comparison.py",
            "--seeds",
            "0",
            "--settings",
            "shift",
            "--methods",
            "scsparseot (default)",
            "t-test",
            "--name",
            "de_comparison_default",
        ),
    ),
    _suite("table1", "--seeds", "0", "1", "2"),
    Job("scale", ("scale.py", "--backed"), ("scale.py", "--sizes", "1000", "--n-genes", "200", "--backed")),
    Job(
        "foundation",
        ("foundation.py",),
        ("foundation.py", "--seeds", "0", "--n-cells", "200", "--n-genes", "50", "--n-perturbed", "5"),
    ),
    Job(
        "scale_default",
        ("scale.py", "--method", "default", "--fdr", "0.05", "--name", "scale_default"),
        (
            "scale.py",
            "--method",
            "default",
            "--fdr",
            "0.05",
            "--sizes",
            "1000",
            "--n-genes",
            "200",
            "--name",
            "scale_default",
        ),
    ),
    _suite("speed"),
    Job(
        "scale_fdr",
        ("scale.py", "--sizes", "50000", "--fdr", "0.05", "--name", "scale_fdr"),
        ("scale.py", "--sizes", "1000", "--n-genes", "200", "--fdr", "0.05", "--name", "scale_fdr"),
    ),
    Job(
        "foundation_threads1",
        ("foundation.py", "--threads", "1", "--name", "foundation_threads1"),
        (
            "foundation.py",
            "--threads",
            "1",
            "--seeds",
            "0",
            "--n-cells",
            "200",
            "--n-genes",
            "50",
            "--n-perturbed",
            "5",
            "--name",
            "foundation_threads1",
        ),
    ),
    _suite("memory"),
    Job(
        "device_check",
        ("device_check.py", "--devices", "cpu", "cuda"),
        ("device_check.py", "--devices", "cpu", "cuda"),
        needs_cuda=True,
    ),
)


def recorded_code(name: str, folder: Path = RESULTS) -> tuple[str | None, bool]:
    """The code commit a results file names, and whether its tree was clean (``(None, False)`` if absent)."""
    path = folder / f"{name}.json"
    if not path.exists():
        return None, False
    info = json.loads(path.read_text()).get("machine", {})
    return info.get("code_commit"), info.get("git_dirty") == []


def _command(job: Job, quick: bool, out: Path) -> list[str]:
    argv = list(job.quick if quick else job.argv)
    script = argv.pop(0)
    if quick or script != "run.py":  # the suites write to results/ by themselves
        argv += ["--out", str(out.relative_to(HERE.parent) if out.is_relative_to(HERE.parent) else out)]
    # relative to the repository root (the jobs' working directory), so that reports name no machine's path
    return [sys.executable, str((HERE / script).relative_to(HERE.parent)), *argv]


def run_all(*, quick: bool, jobs: int, missing: bool, only: list[str] | None, cuda: bool) -> int:
    """Run the jobs; print one line per job and return the number that failed."""
    out = RESULTS / "quick" if quick else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    code = code_state()
    if code["git_dirty"]:
        print(f"warning: uncommitted code changes ({', '.join(code['git_dirty'])}); the reports will say so")
    todo: list[Job] = []
    for job in JOBS:
        if only and job.name not in only:
            continue
        if job.needs_cuda and not cuda:
            print(
                f"skip {job.name}: needs a CUDA device (run `python benchmarks/{' '.join(job.argv)}` on one)"
            )
            continue
        if missing and not quick and recorded_code(job.name) == (code["code_commit"], True):
            print(f"skip {job.name}: already at code commit {code['code_commit'][:10]}")
            continue
        todo.append(job)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    logs = out / "logs"
    logs.mkdir(exist_ok=True)

    def run(job: Job) -> int:
        cmd = _command(job, quick, out)
        t0 = time.perf_counter()
        print(f"start {job.name}: {' '.join(cmd[1:])}", flush=True)
        with (logs / f"{job.name}.log").open("w") as log:
            rc = subprocess.run(
                cmd, cwd=HERE.parent, env=env, stdout=log, stderr=subprocess.STDOUT
            ).returncode
        print(
            f"{'done' if rc == 0 else f'FAILED (exit {rc})'} {job.name} ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
        return rc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        failed = sum(rc != 0 for rc in pool.map(run, todo))
    print(f"{len(todo) - failed} of {len(todo)} jobs done; logs in {logs}")
    return failed
