"""``design``: gene calls in the designs of a real screen: cell types, changes of composition, replicates.

Data: ``scanpy.datasets.pbmc68k_reduced().raw`` (700 PBMCs × 765 genes, log-normalised, the
``bulk_labels`` annotation as the cell types), split per seed at random into a control and a
treated half (no stratification, so that the mix of types differs between halves by sampling
alone). Effects are planted at the count level (``expm1`` → multiply → ``log1p``) in 12 genes that
every type expresses alike (``heterogeneous_tasks.shared_genes``), of 0.5–1.5 SD each (half up, half
down), as in the ``heterogeneous`` suite. Tasks:

* ``deplete``: 75 % of the treated CD14+ monocytes removed; no gene changes in any cell.
* ``expand``: half of the treated cells of every other type removed (the dendritic cells' share
  about doubles); no gene changes.
* ``deplete_plus_B``: the depletion and a 12-gene effect in the CD19+ B cells only.
* ``one_type_mono``: a 12-gene effect in the CD14+ monocytes only.
* ``opposite``: the same 12 genes up in the dendritic cells and down in the CD14+ monocytes (each
  gene's direction drawn once; the other type gets the opposite).
* ``wells_null`` / ``wells_shift``: each half in 4 wells (cells drawn at random), every well with an
  offset on every gene of 0.2 SD (each nonzero log value of gene ``g`` in well ``w`` moved by
  ``o_wg = 0.2 · sd_g · ξ_wg / max(detection_g, 0.2)``, ``ξ ~ N(0, 1)``, so that the mean moves by
  about ``0.2 · sd_g · ξ``; zeros stay zero); ``wells_shift`` adds a 12-gene effect in every treated
  cell.
* ``donors_null`` / ``donors_shift``: 4 donors shared by both halves (each cell's donor drawn at
  random), donor offsets of 0.3 SD as above, the same on both sides; ``donors_shift`` adds the effect.

Methods, on the same data: the pooled t-test (Welch, BH), a t-test within each annotated type (BH
over gene × type, a gene called in any type), a pseudobulk test within each type where the task
has replicates (``sc.get.aggregate`` means per replicate × type, a t-test across replicates, paired
over shared donors, BH over gene × type), the previous default (the code at commit :data:`PREVIOUS`, run from a ``git
archive`` of it in a child process), and the default now without and with ``state_key`` (the
annotated types) and ``replicate_key`` (where the task has replicates). Every default call uses
``n_iters=0``: the calls, states and composition come from the tests before any network trains.

Metrics per task × seed × method: genes called, precision, recall, precision@k (k = 12, genes
ranked by p-value), whether any gene is called; for methods with types: whether the responding type
ranks first (the state with the smallest adjusted p-value is a responding one: either of the two in
``opposite``); for ``state_key`` calls: the depleted /
expanded type's composition log2 ratio against the realised truth and the composition p-values of
the types whose share the task did not change; and the null p-values of every gene on the
``*_null`` tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import common as C
from .heterogeneous_tasks import _effects, _plant, load_pbmc, shared_genes, task_rng

if TYPE_CHECKING:
    import argparse

    from anndata import AnnData

TITLE = "design: gene calls with cell types, composition changes and replicates (PBMC, planted effects)"
DEFAULT_SEEDS = tuple(range(10))
GROUPBY, SOURCE, TARGET, TYPE, REP = "condition", "control", "treated", "cell_type", "replicate"
MONO, B_CELLS, DC = "CD14+ Monocyte", "CD19+ B", "Dendritic"
K = 12
EFFECT_RANGE = (0.5, 1.5)
WELL_SD, DONOR_SD, N_REPLICATES = 0.2, 0.3, 4
#: the default before this suite's changes, run from a git archive of that commit
PREVIOUS = "21c725d"
TASKS = (
    "deplete",
    "expand",
    "deplete_plus_B",
    "one_type_mono",
    "opposite",
    "wells_null",
    "wells_shift",
    "donors_null",
    "donors_shift",
)
COMPOSITION_TASKS = ("deplete", "expand")
NULL_TASKS = ("deplete", "expand", "wells_null", "donors_null")
TYPED_TASKS = ("deplete_plus_B", "one_type_mono", "opposite")
REPLICATE_TASKS = ("wells_null", "wells_shift", "donors_null", "donors_shift")
TTEST, PER_TYPE, PSEUDOBULK, PREV = "t-test", "per-type t-test", "pseudobulk per type", "previous default"
DEFAULT, TYPED, REPLICATED, BOTH = (
    "default",
    "default + state_key",
    "default + replicate_key",
    "default + state_key + replicate_key",
)
METHODS = (TTEST, PER_TYPE, PSEUDOBULK, PREV, DEFAULT, TYPED, REPLICATED, BOTH)


# ------------------------------------------------------------------------------------------- tasks
def make_task(name: str, seed: int) -> dict[str, Any]:
    """One task: control and treated cells, their types and replicates, the planted genes and the truth."""
    rng = task_rng(f"design_{name}", seed)
    base, genes, labels, _ = load_pbmc()
    candidates, _ = shared_genes(base, labels)
    order = rng.permutation(labels.size)
    control, treated = np.sort(order[: labels.size // 2]), np.sort(order[labels.size // 2 :])
    x = base.copy()
    true = (
        np.sort(rng.choice(candidates, size=K, replace=False))
        if name not in NULL_TASKS
        else np.array([], int)
    )
    responding: tuple[str, ...] | None = None
    if name in ("deplete_plus_B", "one_type_mono"):
        kind = B_CELLS if name == "deplete_plus_B" else MONO
        responding = (kind,)
        rows = treated[labels[treated] == kind]
        deltas, sd, u = _effects(base[control[labels[control] == kind]], true, rng, EFFECT_RANGE)
        x, _, _ = _plant(base, rows, true, deltas, sd, u, genes)
    elif name == "opposite":
        responding = (DC, MONO)
        deltas, sd, u = _effects(base[control[labels[control] == DC]], true, rng, EFFECT_RANGE)
        x, _, _ = _plant(base, treated[labels[treated] == DC], true, deltas, sd, u, genes)
        x, _, _ = _plant(x, treated[labels[treated] == MONO], true, -deltas, sd, u, genes)
    elif name.endswith("_shift"):
        deltas, sd, u = _effects(base[control], true, rng, EFFECT_RANGE)
        x, _, _ = _plant(base, treated, true, deltas, sd, u, genes)
    replicates = np.full(labels.size, "none", dtype=object)
    if name.startswith(("wells", "donors")):
        sd_g = base[control].std(0)
        det = np.maximum((base[control] > 0).mean(0), 0.2)
        scale = WELL_SD if name.startswith("wells") else DONOR_SD
        offsets = rng.normal(size=(2 * N_REPLICATES, base.shape[1])) * scale * sd_g / det
        rep = rng.integers(N_REPLICATES, size=labels.size)
        if name.startswith("wells"):  # wells of one group: their own offsets
            rep = rep + N_REPLICATES * np.isin(np.arange(labels.size), treated)
            prefix = "well"
        else:  # donors on both sides: one offset per donor
            prefix = "donor"
        x = np.where(x > 0, np.maximum(x + offsets[rep], 0.0), 0.0)
        replicates = np.array([f"{prefix}{r}" for r in rep], dtype=object)
    keep_treated = np.ones(treated.size, dtype=bool)
    if name in ("deplete", "deplete_plus_B"):
        mono = labels[treated] == MONO
        keep_treated[mono] = rng.random(int(mono.sum())) >= 0.75
    elif name == "expand":
        other = labels[treated] != DC
        keep_treated[other] = rng.random(int(other.sum())) >= 0.5
    treated = treated[keep_treated]
    changed = MONO if name in ("deplete", "deplete_plus_B") else (DC if name == "expand" else None)
    truth_log2 = None
    if changed is not None:
        truth_log2 = float(np.log2(np.mean(labels[treated] == changed) / np.mean(labels[control] == changed)))
    return {
        "name": name,
        "seed": seed,
        "x": x[control].astype(np.float32),
        "y": x[treated].astype(np.float32),
        "genes": genes,
        "true": true,
        "source_types": labels[control],
        "target_types": labels[treated],
        "source_reps": replicates[control],
        "target_reps": replicates[treated],
        "responding": responding,
        "changed_type": changed,
        "truth_log2": truth_log2,
        "has_replicates": name in REPLICATE_TASKS,
    }


def as_adata(task: dict[str, Any]) -> AnnData:
    """The task's cells in one AnnData: ``obs`` condition, cell type and replicate."""
    import pandas as pd
    from anndata import AnnData

    n_s, n_t = len(task["x"]), len(task["y"])
    obs = pd.DataFrame(
        {
            GROUPBY: pd.Categorical([SOURCE] * n_s + [TARGET] * n_t, categories=[SOURCE, TARGET]),
            TYPE: np.r_[task["source_types"], task["target_types"]].astype(str),
            REP: np.r_[task["source_reps"], task["target_reps"]].astype(str),
        },
        index=[f"cell{i}" for i in range(n_s + n_t)],
    )
    return AnnData(
        X=np.vstack([task["x"], task["y"]]), obs=obs, var=pd.DataFrame(index=task["genes"].astype(str))
    )


# ----------------------------------------------------------------------------------------- methods
def _bh(p: np.ndarray) -> np.ndarray:
    from scipy.stats import false_discovery_control

    return false_discovery_control(np.nan_to_num(p, nan=1.0))


def ttest(task: dict[str, Any]) -> dict[str, Any]:
    """Welch's t-test over all cells, BH."""
    from scipy import stats

    p = np.nan_to_num(stats.ttest_ind(task["y"], task["x"], equal_var=False).pvalue, nan=1.0)
    return {"p_value": p, "selected": np.flatnonzero(_bh(p) <= 0.05)}


def _per_type(p: np.ndarray, types: list[str]) -> dict[str, Any]:
    """Calls of a gene × type p-value matrix: BH over all entries, a gene called in any type."""
    adj = _bh(p.ravel()).reshape(p.shape)
    best = adj.min(1)
    return {
        "p_value": p.min(0),
        "selected": np.flatnonzero((adj <= 0.05).any(0)),
        "top_type": types[int(np.argmin(best))] if types else None,
    }


def per_type_ttest(task: dict[str, Any]) -> dict[str, Any]:
    """Welch's t-test within each annotated type with ≥ 5 cells a side, BH over gene × type."""
    from scipy import stats

    types = [
        t
        for t in np.unique(task["source_types"])
        if min((task["source_types"] == t).sum(), (task["target_types"] == t).sum()) >= 5
    ]
    p = np.ones((max(len(types), 1), task["x"].shape[1]))
    for i, t in enumerate(types):
        a, b = task["x"][task["source_types"] == t], task["y"][task["target_types"] == t]
        p[i] = np.nan_to_num(stats.ttest_ind(b, a, equal_var=False).pvalue, nan=1.0)
    return _per_type(p, types)


def pseudobulk(task: dict[str, Any]) -> dict[str, Any] | None:
    """Means per replicate × type (``sc.get.aggregate``), a t-test across replicates in each type, BH over gene × type.

    Paired over the replicates found on both sides (shared donors), else Welch's.
    """
    import scanpy as sc
    from scipy import stats

    if not task["has_replicates"]:
        return None
    ad = as_adata(task)
    ad.obs["side"] = ad.obs[GROUPBY].astype(str)
    agg = sc.get.aggregate(ad, by=["side", REP, TYPE], func=["mean", "count_nonzero"])
    n_cells = ad.obs.groupby(["side", REP, TYPE], observed=True).size()
    obs = agg.obs.reset_index(drop=True)
    sizes = np.array(
        [n_cells.get((s, r, t), 0) for s, r, t in zip(obs["side"], obs[REP], obs[TYPE], strict=True)]
    )
    means = np.asarray(agg.layers["mean"])
    types, rows = [], []
    for t in np.unique(obs[TYPE]):
        ok = (obs[TYPE] == t).to_numpy() & (sizes >= 3)
        src = ok & (obs["side"] == SOURCE).to_numpy()
        tgt = ok & (obs["side"] == TARGET).to_numpy()
        shared = np.intersect1d(obs.loc[src, REP], obs.loc[tgt, REP])
        if shared.size >= 2:  # the same donors on both sides: a paired t-test over them
            row_of = {
                (side, r): i for i, (side, r) in enumerate(zip(obs["side"], obs[REP], strict=True)) if ok[i]
            }
            a = means[[row_of[SOURCE, r] for r in shared]]
            b = means[[row_of[TARGET, r] for r in shared]]
            p = stats.ttest_rel(b, a).pvalue
        elif min(src.sum(), tgt.sum()) >= 2:
            p = stats.ttest_ind(means[tgt], means[src], equal_var=False).pvalue
        else:
            continue
        types.append(str(t))
        rows.append(np.nan_to_num(p, nan=1.0))
    if not types:
        return {"p_value": np.ones(task["x"].shape[1]), "selected": np.array([], int), "top_type": None}
    return _per_type(np.array(rows), types)


def default_call(task: dict[str, Any], *, state_key: bool, replicate_key: bool) -> dict[str, Any] | None:
    """The default ``tl.sparse_ot`` call (``n_iters=0``) with or without the annotated types and replicates."""
    import scsparseot as sso

    if replicate_key and not task["has_replicates"]:
        return None
    ad = as_adata(task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sso.tl.sparse_ot(
            ad,
            groupby=GROUPBY,
            source=SOURCE,
            target=TARGET,
            n_iters=0,
            progress=False,
            state_key=TYPE if state_key else None,
            replicate_key=REP if replicate_key else None,
        )
    table = sso.get.perturbed_genes(ad).set_index("gene").loc[ad.var_names]
    summary = sso.get.summary(ad).iloc[0]
    out: dict[str, Any] = {
        "p_value": table["p_value"].to_numpy(np.float64),
        "selected": np.flatnonzero(table["selected"].to_numpy(bool)),
        "responder_share": float(summary["responder_fraction"]),
        "test_level": str(summary["test_level"]),
    }
    if state_key:
        sg = sso.get.state_genes(ad)
        best = sg.groupby("state")["adj_p_value"].min().dropna()
        out["top_type"] = str(best.idxmin()) if len(best) else None
        comp = sso.get.composition(ad).set_index("state")
        out["composition"] = {
            s: (float(comp.loc[s, "log2_ratio"]), float(comp.loc[s, "p_value"])) for s in comp.index
        }
    return out


_PREVIOUS_CHILD = """
import json, sys, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
import torch
torch.set_num_threads(1)
import anndata as ad, pandas as pd
import scsparseot as sso
assert sso.__file__.startswith(sys.argv[1]), sso.__file__
out = {}
data = np.load(sys.argv[2], allow_pickle=False)
for name in json.loads(sys.argv[3]):
    x, y = data[name + "_x"], data[name + "_y"]
    obs = pd.DataFrame({"c": pd.Categorical(["control"] * len(x) + ["treated"] * len(y))},
                       index=[f"c{i}" for i in range(len(x) + len(y))])
    a = ad.AnnData(np.vstack([x, y]), obs=obs, var=pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sso.tl.sparse_ot(a, groupby="c", source="control", target="treated", n_iters=0, progress=False)
    t = sso.get.perturbed_genes(a).set_index("gene").loc[a.var_names]
    out[name] = {"p_value": t["p_value"].tolist(), "selected": np.flatnonzero(t["selected"]).tolist(),
                 "responder_share": float(sso.get.summary(a)["responder_fraction"].iloc[0])}
print(json.dumps(out))
"""


def previous_default(tasks: list[dict[str, Any]], tree: Path | None) -> dict[str, dict[str, Any]]:
    """The previous default's calls on ``tasks`` (one child process; ``{}`` without the old tree)."""
    if tree is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.npz"
        np.savez(
            path, **{f"{t['name']}_x": t["x"] for t in tasks}, **{f"{t['name']}_y": t["y"] for t in tasks}
        )
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
        res = subprocess.run(
            [
                sys.executable,
                "-c",
                _PREVIOUS_CHILD,
                str(tree),
                str(path),
                json.dumps([t["name"] for t in tasks]),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {
        k: {**v, "p_value": np.asarray(v["p_value"]), "selected": np.asarray(v["selected"], int)}
        for k, v in out.items()
    }


def previous_tree(root: Path) -> Path | None:
    """``src`` of the code at :data:`PREVIOUS`, extracted with ``git archive`` (``None`` without git history)."""
    dest = Path(tempfile.mkdtemp(prefix="sso_previous_"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", PREVIOUS, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return dest / "src"


# ------------------------------------------------------------------------------------------ scores
def score(task: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Calls against the truth: called genes, precision, recall, precision@k, responding type first."""
    truth = set(task["true"].tolist())
    sel = set(np.asarray(out["selected"]).tolist())
    row: dict[str, Any] = {"n_called": len(sel), "any_call": bool(sel)}
    if truth:
        ranked = np.argsort(np.nan_to_num(out["p_value"], nan=1.0), kind="stable")
        row.update(
            precision=len(sel & truth) / len(sel) if sel else None,
            fdr=len(sel - truth) / max(len(sel), 1),
            recall=len(sel & truth) / len(truth),
            precision_at_k=len(truth & set(ranked[: len(truth)].tolist())) / len(truth),
        )
    if task["responding"] is not None and "top_type" in out:
        row["responding_type_first"] = out["top_type"] in task["responding"]
    if "responder_share" in out:
        row["responder_share"] = out["responder_share"]
    if "test_level" in out:
        row["test_level"] = out["test_level"]
    if "composition" in out:
        comp = out["composition"]
        changed = task["changed_type"]
        if changed is not None and changed in comp:
            row["composition_log2"] = comp[changed][0]
            row["composition_log2_error"] = comp[changed][0] - task["truth_log2"]
            row["composition_p"] = comp[changed][1]
        row["composition_null_p"] = [p for s, (_, p) in comp.items() if s != changed and s != MONO]
    if task["name"] in NULL_TASKS:
        row["null_p"] = np.asarray(out["p_value"], dtype=np.float64).tolist()
    return row


# ------------------------------------------------------------------------------------------ suite
def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every task × seed × method."""
    import torch

    torch.set_num_threads(getattr(args, "threads", 1))
    root = Path(__file__).resolve().parents[2]
    tree = previous_tree(root)
    tasks_run = TASKS[:3] if args.quick else TASKS
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        tasks = [make_task(name, seed) for name in tasks_run]
        try:
            prev = previous_default(tasks, tree)
        except (subprocess.CalledProcessError, ValueError) as err:
            prev = {}
            C.say(f"previous default failed: {err!r}")
        for task in tasks:
            calls = {
                TTEST: lambda t: ttest(t),
                PER_TYPE: per_type_ttest,
                PSEUDOBULK: pseudobulk,
                PREV: lambda t, prev=prev: prev.get(t["name"]),
                DEFAULT: lambda t: default_call(t, state_key=False, replicate_key=False),
                TYPED: lambda t: default_call(t, state_key=True, replicate_key=False),
                REPLICATED: lambda t: default_call(t, state_key=False, replicate_key=True),
                BOTH: lambda t: default_call(t, state_key=True, replicate_key=True),
            }
            for method, call in calls.items():
                row: dict[str, Any] = {"task": task["name"], "seed": seed, "method": method}
                t0 = time.perf_counter()
                try:
                    out = call(task)
                    if out is None:
                        continue
                    row.update(status="ok", seconds=time.perf_counter() - t0, **score(task, out))
                except Exception as err:  # noqa: BLE001 - recorded, not raised
                    row.update(status="error", error=repr(err), traceback=traceback.format_exc())
                rows.append(row)
            C.say(
                f"seed {seed} {task['name']}: "
                + ", ".join(
                    f"{r['method']} {r.get('n_called')}"
                    for r in rows
                    if r["task"] == task["name"] and r["seed"] == seed
                )
            )
    summary = summarise(rows)
    return {
        "settings": {
            "data": "scanpy.datasets.pbmc68k_reduced().raw (700 cells x 765 genes), bulk_labels as types",
            "tasks": list(tasks_run),
            "k": K,
            "effect_range_sd_units": list(EFFECT_RANGE),
            "well_offset_sd": WELL_SD,
            "donor_offset_sd": DONOR_SD,
            "replicates_per_group": N_REPLICATES,
            "previous_default_commit": PREVIOUS if tree is not None else None,
            "call": "tl.sparse_ot(adata, groupby, source, target, n_iters=0, progress=False[, state_key, replicate_key])",
        },
        "rows": [{k: v for k, v in r.items() if k not in ("null_p", "composition_null_p")} for r in rows],
        "null_p_values": {
            f"{r['task']} seed {r['seed']} {r['method']}": r["null_p"] for r in rows if "null_p" in r
        },
        "composition_null_p_values": {
            f"{r['task']} seed {r['seed']} {r['method']}": r["composition_null_p"]
            for r in rows
            if "composition_null_p" in r
        },
        "summary": summary,
        "targets": targets(rows, summary),
        "notes": [
            "Every default call uses n_iters=0: its calls, states and composition come from its tests, before "
            "any state network trains (tests/test_calls.py checks that training leaves the calls unchanged).",
            "The pseudobulk test exists only where the task has replicates; 'default + replicate_key' likewise.",
            f"'previous default' is the default at commit {PREVIOUS} (before state_key, replicate_key and the "
            "within-state tests), run from a git archive of that commit in a child process.",
        ],
        "markdown": markdown(summary, targets(rows, summary)),
    }


def _worst(values: list[float], higher_is_better: bool) -> float | None:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    if not vals:
        return None
    return float(min(vals) if higher_is_better else max(vals))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task × method: mean and worst seed of each metric, runs with calls, null p-value shares."""
    out = []
    keys = dict.fromkeys((r["task"], r["method"]) for r in rows if r.get("status") == "ok")
    for task, method in keys:
        mine = [r for r in rows if r["task"] == task and r["method"] == method and r.get("status") == "ok"]
        agg: dict[str, Any] = {"task": task, "method": method, "runs": len(mine)}
        agg["runs_with_calls"] = int(sum(r["any_call"] for r in mine))
        agg["n_called"] = float(np.mean([r["n_called"] for r in mine]))
        for m, better in (("precision", True), ("recall", True), ("precision_at_k", True), ("fdr", False)):
            vals = [r.get(m) for r in mine if r.get(m) is not None]
            if vals:
                agg[m] = float(np.mean(vals))
                agg[f"{m}_worst"] = _worst(vals, better)
                if m == "fdr":
                    agg["fdr_se"] = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0
        if any("responding_type_first" in r for r in mine):
            agg["responding_type_first"] = float(
                np.mean([r["responding_type_first"] for r in mine if "responding_type_first" in r])
            )
        if any("responder_share" in r for r in mine):
            agg["responder_share_max"] = float(
                max(r["responder_share"] for r in mine if "responder_share" in r)
            )
        errs = [r["composition_log2_error"] for r in mine if "composition_log2_error" in r]
        if errs:
            agg["composition_log2_error_max"] = float(np.max(np.abs(errs)))
            agg["composition_log2"] = float(
                np.mean([r["composition_log2"] for r in mine if "composition_log2" in r])
            )
        nulls = np.concatenate([np.asarray(r["null_p"]) for r in mine if "null_p" in r] or [np.array([])])
        if nulls.size:
            agg["null_share_below_0.01"] = float(np.mean(nulls < 0.01))
            agg["null_below_1e-5"] = int(np.sum(nulls < 1e-5))
            agg["null_min"] = float(nulls.min())
        agg["seconds"] = float(np.mean([r["seconds"] for r in mine]))
        agg["levels"] = sorted({r["test_level"] for r in mine if "test_level" in r})
        out.append(agg)
    return out


def _get(summary: list[dict[str, Any]], task: str, method: str) -> dict[str, Any]:
    return next((s for s in summary if s["task"] == task and s["method"] == method), {})


def targets(rows: list[dict[str, Any]], summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, each measured."""
    out = []
    for task in COMPOSITION_TASKS:
        for method in (DEFAULT, TYPED):
            s = _get(summary, task, method)
            if not s:
                continue
            out.append(
                C.target(
                    f"{task}, {method}: runs with any gene call",
                    "<= 1 in 10",
                    f"{s['runs_with_calls']} of {s['runs']}",
                    s["runs_with_calls"] * 10 <= s["runs"],
                )
            )
            out.append(
                C.target(
                    f"{task}, {method}: responder share",
                    "<= 0.05 in every run",
                    s.get("responder_share_max"),
                    (s.get("responder_share_max") or 0) <= 0.05,
                )
            )
        s = _get(summary, task, TYPED)
        if s.get("composition_log2_error_max") is not None:
            out.append(
                C.target(
                    f"{task}, {TYPED}: composition log2 ratio of the changed type",
                    "within ±0.3 of the truth in every run",
                    round(s["composition_log2_error_max"], 3),
                    s["composition_log2_error_max"] <= 0.3,
                )
            )
    comp_null = np.concatenate(
        [
            np.asarray(r["composition_null_p"])
            for r in rows
            if r.get("method") == TYPED and "composition_null_p" in r and r["task"] not in COMPOSITION_TASKS
        ]
        or [np.array([])]
    )
    if comp_null.size:
        share = float(np.mean(comp_null < 0.01))
        out.append(
            C.target(
                f"composition test under no change ({TYPED}, {comp_null.size} p-values of unchanged types)",
                "share of p < 0.01 <= 0.015",
                round(share, 4),
                share <= 0.015,
            )
        )
    for task in ("wells_null", "donors_null"):
        s = _get(summary, task, REPLICATED)
        if s:
            out.append(
                C.target(
                    f"{task}, {REPLICATED}: runs with any call",
                    "<= 1 in 10",
                    f"{s['runs_with_calls']} of {s['runs']}",
                    s["runs_with_calls"] * 10 <= s["runs"],
                )
            )
            out.append(
                C.target(
                    f"{task}, {REPLICATED}: null p-values",
                    "share < 0.01 <= 0.015 and none < 1e-5",
                    f"{s.get('null_share_below_0.01'):.4f}, {s.get('null_below_1e-5')} below 1e-5",
                    s.get("null_share_below_0.01", 1) <= 0.015 and s.get("null_below_1e-5", 1) == 0,
                )
            )
    for task in ("wells_shift", "donors_shift"):
        s, pb = _get(summary, task, REPLICATED), _get(summary, task, PSEUDOBULK)
        if s:
            out.append(
                C.target(
                    f"{task}, {REPLICATED}: precision",
                    ">= 0.9",
                    s.get("precision"),
                    (s.get("precision") or 0) >= 0.9,
                )
            )
            out.append(
                C.target(
                    f"{task}, {REPLICATED}: recall",
                    ">= 0.75",
                    s.get("recall"),
                    (s.get("recall") or 0) >= 0.75,
                )
            )
            if pb:
                out.append(
                    C.target(
                        f"{task}, {REPLICATED}: precision@k against the pseudobulk test",
                        ">= the pseudobulk test's",
                        f"{s.get('precision_at_k'):.3f} vs {pb.get('precision_at_k'):.3f}",
                        s.get("precision_at_k", 0) >= pb.get("precision_at_k", 0),
                    )
                )
    for task in TYPED_TASKS:
        s, pt = _get(summary, task, TYPED), _get(summary, task, PER_TYPE)
        if not s:
            continue
        out.append(
            C.target(
                f"{task}, {TYPED}: precision@k against the per-type t-test",
                ">= the per-type t-test's",
                f"{s.get('precision_at_k'):.3f} vs {pt.get('precision_at_k'):.3f}",
                s.get("precision_at_k", 0) >= pt.get("precision_at_k", 0),
            )
        )
        out.append(
            C.target(
                f"{task}, {TYPED}: the responding type ranks first",
                "in every run",
                s.get("responding_type_first"),
                s.get("responding_type_first") == 1.0,
            )
        )
        out.append(
            C.target(
                f"{task}, {TYPED}: realised FDR",
                "<= 0.05 (± one SE)",
                f"{s.get('fdr'):.3f} ± {s.get('fdr_se'):.3f}",
                s.get("fdr", 1) - s.get("fdr_se", 0) <= 0.05,
            )
        )
    return out


def _f(v: Any, fmt: str = ".2f") -> str:
    return C.cell(v, fmt)


def markdown(summary: list[dict[str, Any]], targets_: list[dict[str, Any]]) -> str:
    """Tables: calls per task and method (mean, worst seed in brackets), null and composition columns."""
    del targets_
    lines = []
    for s in summary:
        pk = (
            f"{_f(s.get('precision_at_k'))} [{_f(s.get('precision_at_k_worst'))}]"
            if "precision_at_k" in s
            else "–"
        )
        pr = f"{_f(s.get('precision'))} [{_f(s.get('precision_worst'))}]" if "precision" in s else "–"
        rc = f"{_f(s.get('recall'))} [{_f(s.get('recall_worst'))}]" if "recall" in s else "–"
        fdr = f"{_f(s.get('fdr'))} ± {_f(s.get('fdr_se'))}" if "fdr" in s else "–"
        lines.append(
            [
                s["task"],
                s["method"],
                f"{s['runs_with_calls']} of {s['runs']}",
                _f(s["n_called"], ".1f"),
                pk,
                pr,
                rc,
                fdr,
                _f(s.get("responding_type_first")),
                _f(s.get("null_share_below_0.01"), ".4f"),
                _f(s.get("null_min"), ".2g"),
                _f(s.get("composition_log2")),
                _f(s.get("composition_log2_error_max")),
                _f(s.get("responder_share_max")),
                _f(s["seconds"], ".2f"),
            ]
        )
    head = [
        "task",
        "method",
        "runs with calls",
        "genes called",
        "P@k [worst]",
        "precision [worst]",
        "recall [worst]",
        "FDR ± SE",
        "responding type first",
        "null p < 0.01",
        "null min p",
        "comp. log2",
        "comp. |error| max",
        "responder share max",
        "seconds",
    ]
    intro = (
        "Mean over seeds, the worst seed in brackets. `null p < 0.01`: share of the genes' p-values below "
        "0.01 over all genes × seeds of a task without gene effect. `comp.`: the composition log2 ratio "
        "of the depleted/expanded type (state_key calls) and its largest error against the realised truth.\n\n"
    )
    return "## Calls per task and method\n\n" + intro + C.markdown_table(head, lines, "ll" + "r" * 13)
