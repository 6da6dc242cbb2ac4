"""Benchmarks: the lowdim suite in ``--quick`` mode writes complete results (``benchmarks/run.py``), and the
``heterogeneous`` suite's tasks carry the truth they claim (planted effects, ``D_i``, responders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


@pytest.mark.slow
def test_lowdim_quick_writes_results(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(RUN), "lowdim", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "lowdim_quick.json").read_text())
    for key in ("date", "machine", "command", "torch", "seeds", "settings", "rows", "aggregates", "targets"):
        assert key in result, key
    assert result["suite"] == "lowdim"
    assert result["quick"] is True
    assert result["seeds"] == [0]
    assert "run.py lowdim --quick" in result["command"]
    assert result["machine"]["torch_threads_per_method"] == 1
    methods = {r["method"] for r in result["rows"]}
    assert {"lam=auto (annealed)", "lam=1", "exact OT (reference)"} <= methods
    fits = [r for r in result["rows"] if r["method"].startswith("lam=")]
    assert fits and all(r["status"] == "ok" for r in fits)
    for r in fits:
        assert r["rss_mib"] > r["rss_base_mib"] > 0
        assert r["seconds"] > 0
        assert r["avg_dim"] >= 0 and r["err"] >= 0 and r["spa"] >= 0
    assert {r["dim"] for r in fits} == {2, 3}
    agg = result["aggregates"][0]
    assert {"mean", "sd"} <= set(agg["err"])
    # the quick run meets the suite's own targets: λ='auto' moves one coordinate, undominated
    targets = {t["name"]: t for t in result["targets"]}
    for dim in ("2-D", "3-D"):
        assert targets[f"{dim} annealed avg dim"]["met"], targets[f"{dim} annealed avg dim"]
        assert targets[f"{dim} annealed not dominated"]["met"], targets[f"{dim} annealed not dominated"]
    assert result["lambda_traces"] and result["lambda_traces"][0]["moves"]["lam"]
    assert (tmp_path / "lowdim_quick.md").read_text().startswith("# lowdim")
    assert (tmp_path / "lowdim_tradeoff_quick.png").stat().st_size > 0


def _heterogeneous() -> tuple[ModuleType, ModuleType]:
    """The ``heterogeneous`` suite's modules (``benchmarks/`` is not a package: put it on the path)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from suites import heterogeneous, heterogeneous_tasks

    return heterogeneous, heterogeneous_tasks


def test_heterogeneous_one_type_task_plants_one_type_only() -> None:
    suite, tasks = _heterogeneous()
    task = tasks.one_type_task("CD19+ B", seed=3, n_planted=10, n_genes=100)
    base, names, labels, _ = tasks.load_pbmc()
    treated = np.asarray(task.info["treated_cells"])
    assert task.x.shape == (task.source_labels.size, 100) and task.y.shape == (treated.size, 100)
    index = {g: i for i, g in enumerate(names)}
    cols = np.array([index[g] for g in task.genes])
    before = base[np.ix_(treated, cols)]
    # the responders are exactly the treated cells of the responding type, about its share of the cells
    assert np.array_equal(task.responders, task.target_labels == "CD19+ B")
    assert abs(task.responders.mean() - np.mean(labels == "CD19+ B")) < 0.02
    # only the planted genes of the responding type's treated cells change
    changed = np.abs(task.y - before) > 1e-5
    assert not changed[~task.responders].any()
    assert set(np.flatnonzero(changed.any(0))) <= set(task.true_genes.tolist())
    # each planted gene's mean log change in the responders is 0.5-1.5 sd of the type's control cells
    ref = task.x[task.source_responds][:, task.true_genes]
    change = (task.y[task.responders] - before[task.responders])[:, task.true_genes].mean(0) / ref.std(0)
    assert np.all((np.abs(change) >= 0.5 - 1e-3) & (np.abs(change) <= 1.5 + 1e-3)), change
    assert (change > 0).sum() == (change < 0).sum() == 5
    # D: zero outside the responding type and the planted genes, same sign as the planted change inside
    d = task.displacement
    assert d.shape == task.x.shape
    assert np.array_equal(task.source_responds, task.source_labels == "CD19+ B")
    assert not d[~task.source_responds].any()
    assert not np.delete(d, task.true_genes, axis=1).any()
    assert np.all(np.sign(d[task.source_responds][:, task.true_genes].mean(0)) == np.sign(change))
    # the cluster-conditional shift baseline returns one cluster per cell and one shift per cluster
    out = suite.cluster_shift(task.x, task.y, n_clusters=6, seed=0)
    assert out["displacement"].shape == task.x.shape
    assert out["shift"].shape == out["qvalue"].shape == (6, task.x.shape[1])
    assert out["labels_x"].shape == (task.x.shape[0],) and out["labels_y"].shape == (task.y.shape[0],)
    assert np.array_equal(out["displacement"], out["shift"][out["labels_x"]])


def test_heterogeneous_switch_and_mixture_truth() -> None:
    suite, tasks = _heterogeneous()
    switch = tasks.switch_task(seed=1, n_planted=10, n_genes=100)
    assert switch.displacement is None and switch.source_responds is None
    for t in np.unique(switch.target_labels):  # ~40 % of the treated cells of every type respond
        mine = switch.responders[switch.target_labels == t]
        assert abs(mine.sum() - 0.4 * mine.size) <= 0.5
    mix = tasks.synthetic_mixture_task(seed=2, n_cells=120, n_genes=40, n_identity=10, n_moved=4)
    shifts = {c: mix.displacement[mix.source_labels == c] for c in np.unique(mix.source_labels)}
    for d in shifts.values():  # every source cell carries its component's shift
        assert np.all(d == d[0])
    moved = [c for c, d in shifts.items() if d[0].any()]
    assert (
        len(moved) == 2 and not mix.displacement[:, :10].any()
    )  # one component still, identity genes unmoved
    assert np.array_equal(mix.responders, np.isin(mix.target_labels, moved))
    assert np.array_equal(mix.source_responds, np.isin(mix.source_labels, moved))
    both = np.flatnonzero(shifts[moved[0]][0] * shifts[moved[1]][0] < 0)
    assert both.size == 2  # genes the two components move in opposite directions
    # the AUROC helper: perfect, reversed and undefined rankings
    labels = np.array([False, False, True, True])
    assert suite.auroc(np.array([0.0, 1, 2, 3]), labels) == 1.0
    assert suite.auroc(np.array([3.0, 2, 1, 0]), labels) == 0.0
    assert np.isnan(suite.auroc(np.array([0.0, 1, 2, 3]), np.ones(4, bool)))


@pytest.mark.slow
def test_calibration_quick_meets_its_null_and_shift_targets(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(RUN), "calibration", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "calibration_quick.json").read_text())
    targets = {t["name"]: t for t in result["targets"]}
    for design in ("gmix 1000/1000", "gmix 2000/200"):
        # no effect: no run calls a gene, no extreme p-value, (almost) no responders: the benchmark's
        # target of a share <= 0.05 in every run is missed by one 1000/1000 run that calls a false gene
        # (0.054, benchmarks/results/calibration.md); a share of real responders would be far larger
        for what in ("runs with any call", "p < 1e-5"):
            assert targets[f"null {design}: {what}"]["met"], targets[f"null {design}: {what}"]
        assert targets[f"null {design}: responder share"]["value"] <= 0.1
        # a planted shift: as precise as the t-test, recall >= 0.5
        for what in ("precision@k vs t-test", "recall"):
            assert targets[f"{design} shift: {what}"]["met"], targets[f"{design} shift: {what}"]
    assert all(len(v) == 200 for v in result["null_p_values"].values())


def test_run_all_has_a_job_for_every_results_file_and_reports_say_their_code() -> None:
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from _all import JOBS, _command
    from _meta import stamp

    names = [job.name for job in JOBS]
    assert len(set(names)) == len(names)
    # `run.py all` regenerates every results file, and nothing else
    assert {p.stem for p in (ROOT / "benchmarks" / "results").glob("*.json")} == set(names)
    for job in JOBS:
        for quick in (False, True):
            cmd = _command(job, quick, ROOT / "benchmarks" / "results" / "quick")
            script = Path(cmd[1])
            assert not script.is_absolute() and (ROOT / script).is_file(), cmd  # no machine's path
            if quick:
                assert "--out" in cmd  # a smoke test never overwrites real results
    dirty = stamp("# Title\n\nbody\n", {"code_commit": "0123456789abcdef", "git_dirty": ["src/x.py"]})
    assert dirty.splitlines()[0] == "# Title (from uncommitted code)"
    assert "0123456789" in dirty and "`src/x.py`" in dirty
    clean = stamp("# Title\n\nbody\n", {"code_commit": "0123456789abcdef", "git_dirty": []})
    assert clean.splitlines()[0] == "# Title" and "clean tree" in clean


def test_design_tasks_carry_their_truth() -> None:
    """The ``design`` suite's tasks: a depletion removes treated cells of one type only and changes no
    value; wells have their own offsets per group; shared donors hold cells on both sides."""
    _heterogeneous()  # puts benchmarks/ on the path
    from suites import design

    base = design.make_task("deplete", 0)
    mono_share = [np.mean(t == design.MONO) for t in (base["source_types"], base["target_types"])]
    assert mono_share[1] < 0.5 * mono_share[0] and base["true"].size == 0
    assert np.isclose(base["truth_log2"], np.log2(mono_share[1] / mono_share[0]))
    pbmc = design.load_pbmc()[0]
    assert any(np.allclose(base["y"][0], row) for row in pbmc)  # treated cells are real cells, unchanged
    wells = design.make_task("wells_null", 0)
    assert not set(wells["source_reps"]) & set(wells["target_reps"]) and len(set(wells["source_reps"])) == 4
    donors = design.make_task("donors_shift", 0)
    assert set(donors["source_reps"]) == set(donors["target_reps"]) and donors["true"].size == design.K
    out = design.score(donors, design.ttest(donors))
    assert out["recall"] > 0.5 and 0 <= out["precision_at_k"] <= 1


def test_program_tasks_and_prediction_metrics() -> None:
    _, tasks = _heterogeneous()
    from suites import prediction

    for kind in ("gradient", "nonlinear"):
        task = tasks.program_task(kind, seed=0, n_planted=8, n_genes=100)
        base, names, labels, _ = tasks.load_pbmc()
        index = {g: i for i, g in enumerate(names)}
        cols = np.array([index[g] for g in task.genes])
        treated, control = np.asarray(task.info["treated_cells"]), np.asarray(task.info["control_cells"])
        changed = np.abs(task.y - base[np.ix_(treated, cols)]) > 1e-5
        assert set(np.flatnonzero(changed.any(0))) <= set(task.true_genes.tolist())
        assert np.array_equal(task.x, base[np.ix_(control, cols)].astype(np.float32))
        d = task.displacement[:, task.true_genes]
        assert not np.delete(task.displacement, task.true_genes, axis=1).any()
        if (
            kind == "gradient"
        ):  # every cell moves, by a share of the full effect that varies along the program
            assert np.mean(np.abs(d).sum(1) > 0) > 0.9 and np.std(np.abs(d).sum(1)) > 0.05
        else:  # each cell moves one half of the genes or the other, never both
            first = np.abs(d[:, :4]).sum(1) > 0
            second = np.abs(d[:, 4:]).sum(1) > 0
            assert not (first & second).any() and 0.2 < first.mean() < 0.8
    # the split keeps 2/3 of each label, disjoint and complete
    labels = np.array(["a"] * 30 + ["b"] * 12)
    fit, held = prediction.split(labels, np.random.default_rng(0))
    assert np.intersect1d(fit, held).size == 0 and np.union1d(fit, held).size == labels.size
    assert (labels[fit] == "a").sum() == 20 and (labels[fit] == "b").sum() == 8
    # metrics: the identity scores 1, the exact per-state change 0; energy distance of a sample to itself is 0
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 5))
    lx = np.repeat(["a", "b"], 30)
    shift = np.where(lx[:, None] == "a", 1.0, 0.0) * np.array([1.0, -1.0, 0, 0, 0])
    y = x + shift
    cols = np.array([0, 1])
    assert prediction.mean_change_error(x, x, y, lx, lx, cols) == pytest.approx(1.0)
    assert prediction.mean_change_error(x, x + shift, y, lx, lx, cols) == pytest.approx(0.0, abs=1e-12)
    assert prediction.energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert prediction.energy_distance(x, y) > 0.1
