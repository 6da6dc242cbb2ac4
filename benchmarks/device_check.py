"""CPU against CUDA on one task: the default fit and the conditional map, same data, same seed.

Data: the ``heterogeneous`` suite's monocyte task (``suites/heterogeneous_tasks.one_type_task``, seed 0:
pbmc68k_reduced, 351 control and 349 treated cells × 765 genes, 15 genes planted in the treated
CD14+ monocytes). For each device in ``--devices`` it runs ``tl.sparse_ot`` with its defaults (the
sparse ICNN, ``lam="auto"``, calibrated calls) and with ``method="conditional"``, and records the
seconds, the selected genes and whether both devices select the same genes.

Run where a GPU is present::

    python benchmarks/device_check.py --devices cpu cuda --out benchmarks/results

Writes ``device_check.json`` and ``.md`` (a run without CUDA records CPU alone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _meta import clean, machine, stamp  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the check and write the results."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    args = p.parse_args(argv)

    import torch
    from suites import heterogeneous_tasks as H

    import scsparseot as sso

    if args.threads:
        torch.set_num_threads(args.threads)
    task = H.one_type_task("CD14+ Monocyte", 0)
    truth = set(task.genes[task.true_genes].astype(str))
    rows = []
    for device in args.devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            rows.append({"device": device, "status": "skipped: no CUDA"})
            continue
        for label, kwargs in (("default", {}), ("conditional", {"method": "conditional"})):
            adata = task.adata()
            t0 = time.perf_counter()
            sso.tl.sparse_ot(
                adata, groupby=H.GROUPBY, source=H.SOURCE, device=device, progress=False, **kwargs
            )
            seconds = time.perf_counter() - t0
            genes = sso.get.perturbed_genes(adata, selected_only=True)["gene"].astype(str).tolist()
            summary = sso.get.summary(adata).iloc[0]
            rows.append(
                {
                    "device": device,
                    "method": label,
                    "status": "ok",
                    "seconds": seconds,
                    "selected": genes,
                    "true_selected": len(truth & set(genes)),
                    "lam": float(summary["lam"]),
                    "n_iters": int(summary["n_iters"]),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    same = {}
    for label in ("default", "conditional"):
        sets = [tuple(r["selected"]) for r in rows if r.get("method") == label]
        same[label] = len(sets) > 1 and len(set(sets)) == 1
    result = {
        "machine": machine(
            cuda=torch.cuda.is_available(),
            gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            torch_threads=torch.get_num_threads(),
            # a copy of the tree without .git (a lent GPU machine) gets the commit from the caller
            source_commit=os.environ.get("SOURCE_COMMIT"),
        ),
        "command": " ".join(sys.argv),
        "task": "heterogeneous one_type_task('CD14+ Monocyte', seed=0)",
        "rows": rows,
        "same_genes_on_every_device": same,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(clean(result), indent=1))
    lines = [
        "| device | method | seconds | selected genes | of them planted | λ | iterations |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['device']} | – | {r['status']} | | | | |")
            continue
        lines.append(
            f"| {r['device']} | {r['method']} | {r['seconds']:.1f} | {len(r['selected'])} | {r['true_selected']} "
            f"| {r['lam']:.3g} | {r['n_iters']} |"
        )
    lines.append("")
    lines.append(f"Same genes selected on every device: {same}.")
    (args.out / "device_check.md").write_text(
        stamp("# Device check\n\n" + "\n".join(lines) + "\n", result["machine"])
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
