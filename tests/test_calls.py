"""Gene calls of the default map: none without an effect (also with few treated cells), small effects found."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsparseot as sso


def _mixture(n_control: int, n_treated: int, *, d: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three cell types told apart by genes 0-4; control and treated cells from the same mixture."""
    rng = np.random.default_rng(seed)
    means = np.zeros((3, d))
    means[:, :5] = rng.normal(scale=3.0, size=(3, 5))

    def draw(n: int) -> np.ndarray:
        return means[rng.choice(3, size=n, p=[0.5, 0.3, 0.2])] + rng.normal(size=(n, d))

    return draw(n_control), draw(n_treated)


def _adata(x: np.ndarray, y: np.ndarray) -> ad.AnnData:
    drug = np.repeat(["control", "drug"], [len(x), len(y)])
    obs = pd.DataFrame({"drug": drug}, index=[f"c{i}" for i in range(len(drug))])
    var = pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])])
    return ad.AnnData(np.vstack([x, y]).astype(np.float32), obs=obs, var=var)


@pytest.mark.parametrize(("n_control", "n_treated"), [(400, 400), (1500, 120)])
def test_no_effect_no_calls_and_no_responders(n_control, n_treated):
    for seed in range(3):
        adata = _adata(*_mixture(n_control, n_treated, seed=seed))
        sso.tl.sparse_ot(adata, progress=False)
        genes = sso.get.perturbed_genes(adata)
        assert not genes["selected"].any()
        assert genes["p_value"].min() > 1e-4  # no extreme p-value without an effect
        assert sso.get.summary(adata)["responder_fraction"][0] <= 0.05


def test_default_finds_a_small_effect_with_few_treated_cells():
    x, y = _mixture(1500, 200, seed=1)
    y[:, 20:28] += 0.5  # half a standard deviation, 200 treated cells
    adata = _adata(x, y)
    sso.tl.sparse_ot(adata, progress=False)
    found = set(sso.get.perturbed_genes(adata, selected_only=True)["gene"])
    truth = {f"g{j}" for j in range(20, 28)}
    assert len(found & truth) >= 7 and len(found - truth) <= 1


def test_default_finds_a_change_of_spread_that_a_mean_test_cannot():
    x, y = _mixture(500, 500, seed=2)
    rng = np.random.default_rng(0)
    y[:, 30:36] += np.where(rng.random((500, 6)) < 0.5, 1.0, -1.0)  # half up, half down: mean unchanged
    adata = _adata(x, y)
    sso.tl.sparse_ot(adata, progress=False)
    found = set(sso.get.perturbed_genes(adata, selected_only=True)["gene"])
    assert found == {f"g{j}" for j in range(30, 36)}
    moved = np.asarray(adata.layers["sparse_ot_displacement_drug"][:500].toarray() != 0)
    assert moved[:, 30:36].any(axis=0).any()  # the map moves them too


def test_calls_and_responder_share_do_not_depend_on_training():
    # the calls, p-values and responder share come from the tests before the state networks train
    # (benchmarks/suites/calibration.py relies on it to run the calls with n_iters=0)
    x, y = _mixture(300, 300, d=30, seed=3)
    y[:150, 10:14] += 1.0
    trained, closed = _adata(x, y), _adata(x, y)
    sso.tl.sparse_ot(trained, progress=False, n_iters=30)
    sso.tl.sparse_ot(closed, progress=False, n_iters=0)
    assert sso.get.summary(trained)["n_iters"][0] > 0 == sso.get.summary(closed)["n_iters"][0]
    calls = ["target", "gene", "p_value", "adj_p_value", "selected", "rank"]
    pd.testing.assert_frame_equal(
        sso.get.perturbed_genes(trained)[calls], sso.get.perturbed_genes(closed)[calls]
    )
    assert sso.get.perturbed_genes(closed)["selected"].sum() == 4
    cols = ["responder_fraction", "responder_fraction_low", "responder_fraction_high"]
    pd.testing.assert_frame_equal(sso.get.summary(trained)[cols], sso.get.summary(closed)[cols])


def test_responder_share_of_a_partial_response_with_few_treated_cells():
    # half of 200 treated cells move by 0.4-1.2 SD in 12 genes: nearest neighbours in the 12 genes
    # undercount them; along the response direction they stand out
    x, y = _mixture(2000, 200, seed=4)
    delta = np.random.default_rng(1).uniform(0.4, 1.2, 12)
    y[:100, 20:32] += delta
    adata = _adata(x, y)
    sso.tl.sparse_ot(adata, progress=False, n_iters=0)
    summary = sso.get.summary(adata).iloc[0]
    assert summary["responder_fraction"] == pytest.approx(0.5, abs=0.1)
    assert summary["responder_fraction_low"] < 0.5 < summary["responder_fraction_high"]
