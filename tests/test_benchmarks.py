"""Smoke test of ``benchmarks/run.py``: the lowdim suite in ``--quick`` mode writes complete results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert all(isinstance(t["met"], bool) for t in result["targets"])
    assert result["lambda_traces"] and result["lambda_traces"][0]["moves"]["lam"]
    assert (tmp_path / "lowdim_quick.md").read_text().startswith("# lowdim")
    assert (tmp_path / "lowdim_tradeoff_quick.png").stat().st_size > 0
