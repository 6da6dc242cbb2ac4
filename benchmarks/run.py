"""Benchmark suites of scsparseot, one entry point.

Run from the repository root, one suite at a time, with one torch thread (the default)::

    python benchmarks/run.py lowdim                  # 2-D/3-D toys: λ='auto' against a λ grid
    python benchmarks/run.py table1 --seeds 0 1 2    # DisNOT table 1 (500 × 250), paper and Gaussian data
    python benchmarks/run.py table2                  # 4000 × 3000 genes, max_genes=100 (heavy)
    python benchmarks/run.py speed                   # time to a converged map against the textbook recipe
    python benchmarks/run.py memory                  # peak RSS of each method against the number of cells
    python benchmarks/run.py heterogeneous           # one-type, switch and mixture responses
    python benchmarks/run.py calibration             # null p-values and calls of the default, no effect and planted
    python benchmarks/run.py design                  # cell types, composition changes and replicates (PBMC)
    python benchmarks/run.py screen                  # 100 drugs in one call: time per drug, Dask, t-tests
    python benchmarks/run.py prediction              # held-out control cells transported onto held-out treated ones
    python benchmarks/run.py lowdim --quick --out /tmp/r   # smoke test: small data, 1 seed
    python benchmarks/run.py all --jobs 2            # every results file (scripts included), 2 at a time
    python benchmarks/run.py all --missing           # only the files not yet at the current code commit
    python benchmarks/run.py all --quick             # every job on small data, into results/quick/

Each run writes ``benchmarks/results/<suite>.json`` (date, machine, exact command, versions, settings,
per-run rows, mean ± sd aggregates, targets met/not met) and ``<suite>.md`` (tables); ``--quick``
writes ``<suite>_quick.*`` instead so that a smoke test never overwrites real results. Every method
runs in its own fresh ``spawn`` process, which reports its peak RSS (``suites.common.run_isolated``).
"""

from __future__ import annotations

import os

# before numpy/torch are imported here or in the fresh processes (which inherit the environment)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import datetime as dt
import json
import logging
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `suites` and `foundation` live next to this file
    sys.path.insert(0, str(HERE))

from suites import SUITES, load  # noqa: E402

RESULTS = HERE / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("suite", choices=(*SUITES, "all"), help="which suite to run; all: every results file")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the suite's)")
    p.add_argument("--quick", action="store_true", help="small data, few iterations, 1 seed (smoke test)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the results (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch threads, here and in each method's process")
    p.add_argument(
        "--timeout",
        type=float,
        default=720.0,
        help="seconds after which one method's process is stopped and recorded as a timeout",
    )
    p.add_argument("--jobs", type=int, default=1, help="all: jobs run at a time (one torch thread each)")
    p.add_argument(
        "--missing", action="store_true", help="all: skip files already at the current code commit"
    )
    p.add_argument("--only", nargs="+", default=None, help="all: only these results files (stems)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one suite and write its results."""
    args = parse_args(argv)
    if args.suite == "all":
        import torch
        from _all import run_all

        return min(
            run_all(
                quick=args.quick,
                jobs=args.jobs,
                missing=args.missing,
                only=args.only,
                cuda=torch.cuda.is_available(),
            ),
            1,
        )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    from _meta import clean, machine, stamp

    suite = load(args.suite)
    seeds = list(args.seeds if args.seeds is not None else suite.DEFAULT_SEEDS)
    if args.quick:
        seeds = seeds[:1]
    args.seeds = seeds
    stem = f"{args.suite}_quick" if args.quick else args.suite
    args.out.mkdir(parents=True, exist_ok=True)
    args.stem = stem
    info = machine()
    info["torch_threads_per_method"] = args.threads
    info["cuda_available"] = torch.cuda.is_available()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    print(f"suite {args.suite} ({'quick, ' if args.quick else ''}seeds {seeds}, {args.threads} torch thread)")
    result = suite.run(args)
    total = time.perf_counter() - t0
    targets = result.get("targets", [])
    out = {
        "suite": args.suite,
        "title": suite.TITLE,
        "date": started.isoformat(timespec="seconds"),
        "total_seconds": total,
        "command": command,
        "quick": args.quick,
        "seeds": seeds,
        "torch": torch.__version__,
        "machine": info,
        "rss_unit": "MiB in rows (rss_mib: peak of the method's own process; rss_base_mib: its peak after "
        "imports and input data, before the method ran), from ru_maxrss in KiB",
        **{k: v for k, v in result.items() if k != "markdown"},
        "targets_met": {t["name"]: t["met"] for t in targets},
    }
    (args.out / f"{stem}.json").write_text(json.dumps(clean(out), indent=1, default=str) + "\n")
    md = [
        f"# {suite.TITLE}\n",
        f"{started:%Y-%m-%d %H:%M} UTC, `{command}`, {total / 60:.1f} min in all; {info['cpu_count']} CPUs "
        f"(load {', '.join(f'{v:.1f}' for v in info['load_average_at_start'] or [])} at start), "
        f"torch {torch.__version__}, {args.threads} torch thread per method, seeds {' '.join(map(str, seeds))}"
        f"{' (--quick: reduced sizes, not results)' if args.quick else ''}.\n",
        result["markdown"],
    ]
    if targets:
        md.append("\n## Targets\n")
        md.append(
            "\n".join(
                f"* **{'met' if t['met'] else 'NOT met'}**: {t['name']}: {t['rule']} (measured: {t['value']})"
                + (f" — {t['note']}" if t.get("note") else "")
                for t in targets
            )
            + "\n"
        )
    notes = result.get("notes", [])
    if notes:
        md.append("\n## Notes\n")
        md.append("\n".join(f"* {n}" for n in notes) + "\n")
    (args.out / f"{stem}.md").write_text(stamp("\n".join(md), info))
    for t in targets:
        print(f"target {t['name']}: {'met' if t['met'] else 'NOT met'} ({t['value']})")
    print(f"wrote {args.out / stem}.json and .md ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
