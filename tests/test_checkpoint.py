"""A multi-drug run that stops midway resumes from its checkpoints without refitting finished drugs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from anndata.tests.helpers import assert_equal

import scsparseot as sso
from scsparseot.core import ConditionalFit
from scsparseot.tl import _checkpoint, _sparse_ot

from .conftest import FAST

KW = {"config": FAST, "lam": 1.0, "progress": False, "copy": True}


def test_resume_after_interruption(synthetic, tmp_path, monkeypatch):
    real = _sparse_ot.fit_target
    calls = []

    def flaky(x, y, spec, seed, genes, callback=None):
        calls.append(seed)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed while fitting the second drug
        return real(x, y, spec, seed, genes, callback)

    monkeypatch.setattr(_sparse_ot, "fit_target", flaky)
    before = synthetic.copy()
    with pytest.raises(KeyboardInterrupt):
        sso.tl.sparse_ot(synthetic, checkpoint_dir=tmp_path, **KW)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert "sparse_ot" not in synthetic.uns  # nothing half-written
    assert set(synthetic.layers) == set(before.layers)

    calls.clear()
    monkeypatch.setattr(_sparse_ot, "fit_target", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = sso.tl.sparse_ot(synthetic, checkpoint_dir=tmp_path, **KW)
    assert len(calls) == 1  # only the unfinished drug was fitted
    fresh = sso.tl.sparse_ot(synthetic, **KW)
    for k in fresh.layers:
        np.testing.assert_array_equal(resumed.layers[k].toarray(), fresh.layers[k].toarray())
    a, b = sso.get.perturbed_genes(resumed), sso.get.perturbed_genes(fresh)
    assert a.drop(columns="p_value").equals(b.drop(columns="p_value"))
    np.testing.assert_allclose(a["p_value"], b["p_value"])
    x = synthetic.X[(synthetic.obs["drug"] == "control").to_numpy()]
    np.testing.assert_array_equal(
        sso.get.map(resumed, target="drug_1").transport(x), sso.get.map(fresh, target="drug_1").transport(x)
    )


def test_checkpoint_with_other_settings_is_ignored(synthetic, tmp_path, monkeypatch):
    sso.tl.sparse_ot(synthetic, target="drug_1", checkpoint_dir=tmp_path, **KW)
    real = _sparse_ot.fit_target
    calls = []
    monkeypatch.setattr(_sparse_ot, "fit_target", lambda *a, **k: calls.append(1) or real(*a, **k))
    sso.tl.sparse_ot(synthetic, target="drug_1", checkpoint_dir=tmp_path, **{**KW, "lam": 0.5})
    assert calls == [1]


_KILLED_RUN = """
import sys, time
import anndata as ad
import scsparseot as sso
from scsparseot.core import TrainConfig
from scsparseot.tl import _sparse_ot

real, calls = _sparse_ot.fit_target, []

def stalls_on_second(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        print("fitting the second drug", flush=True)
        time.sleep(600)  # killed here
    return real(*args, **kwargs)

_sparse_ot.fit_target = stalls_on_second
config = TrainConfig(hidden=(32, 32), n_iters=300, eval_every=25, min_iters=100)
sso.tl.sparse_ot(ad.read_h5ad(sys.argv[1]), groupby="drug", source="control", config=config, lam=1.0,
                 progress=False, checkpoint_dir=sys.argv[2])
"""


@pytest.mark.slow
def test_resume_after_sigkill(synthetic, tmp_path, monkeypatch):
    """A run killed with SIGKILL in the middle of its second drug resumes with only that drug left."""
    data, ckpt = tmp_path / "data.h5ad", tmp_path / "ckpt"
    synthetic.write_h5ad(data)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_RUN, str(data), str(ckpt)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout.readline().strip() == "fitting the second drug"
        proc.kill()
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -9
    assert len(list(ckpt.glob("*.npz"))) == 1  # the first drug, whole; nothing half-written

    real = _sparse_ot.fit_target
    calls = []
    monkeypatch.setattr(_sparse_ot, "fit_target", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = sso.tl.sparse_ot(synthetic, checkpoint_dir=ckpt, **KW)
    assert len(calls) == 1
    fresh = sso.tl.sparse_ot(synthetic, **KW)
    for k in fresh.layers:
        np.testing.assert_array_equal(resumed.layers[k].toarray(), fresh.layers[k].toarray())


def test_conditional_map_resumes_from_its_checkpoint(synthetic, tmp_path, monkeypatch):
    kw = {"method": "conditional", "progress": False, "copy": True}
    fresh = sso.tl.sparse_ot(synthetic, checkpoint_dir=tmp_path, **kw)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    calls = []
    real = _sparse_ot.fit_target
    monkeypatch.setattr(_sparse_ot, "fit_target", lambda *a, **k: calls.append(1) or real(*a, **k))
    resumed = sso.tl.sparse_ot(synthetic, checkpoint_dir=tmp_path, **kw)
    assert not calls  # both drugs came from their checkpoints
    pd_a, pd_b = sso.get.perturbed_genes(resumed), sso.get.perturbed_genes(fresh)
    assert pd_a.equals(pd_b)  # p-values of the map's own tests included
    assert pd_a["selected"].any()
    x = synthetic.X[(synthetic.obs["drug"] == "control").to_numpy()]
    np.testing.assert_array_equal(
        sso.get.map(resumed, target="drug_2").displacement(x),
        sso.get.map(fresh, target="drug_2").displacement(x),
    )


def test_default_map_resumes_with_its_whole_result(synthetic, tmp_path, monkeypatch):
    """The state-conditional result (calls, states, per-state histories, map) survives a checkpoint."""
    kw = {"target": "drug_1", "n_iters": 30, "progress": False, "copy": True, "checkpoint_dir": tmp_path}
    first = sso.tl.sparse_ot(synthetic, **kw)
    real = _sparse_ot.fit_target
    calls = []
    monkeypatch.setattr(_sparse_ot, "fit_target", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = sso.tl.sparse_ot(synthetic, **kw)
    assert calls == []  # loaded, not refitted
    assert_equal(again.layers, first.layers)
    assert sso.get.perturbed_genes(again).equals(sso.get.perturbed_genes(first))
    h_again, h_first = sso.get.training_history(again), sso.get.training_history(first)
    assert len(h_first) and (h_first["state"] >= 0).all()
    assert h_again.equals(h_first)
    s_again, s_first = sso.get.summary(again), sso.get.summary(first)
    assert s_again.drop(columns="seconds").equals(s_first.drop(columns="seconds"))
    # the loaded result is the typed one the fit returned
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as f:
        key = json.loads(str(f["header"]))["fingerprint"]
    loaded = _checkpoint.load(tmp_path, "drug_1", key)
    assert isinstance(loaded, ConditionalFit)
    assert set(loaded.states) >= {"state", "trained", "responds"} and loaded.heterogeneous.dtype == bool
