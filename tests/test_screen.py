"""A screen in one call: the source's work is done once and shared, with the calls of each drug fitted alone."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsparseot as sso
from scsparseot.core import ConditionalConfig, TrainConfig, fit_conditional, prepare_source
from scsparseot.tl import _runner

N_GENES = 30
CONFIG = ConditionalConfig(train=TrainConfig(hidden=(8,), n_iters=30, min_iters=30, eval_every=10))


def _screen(seed: int = 0) -> ad.AnnData:
    """600 control cells (large enough for the PCA's randomised solver) of two types, and three drugs:
    a shift of genes 10-12, a shift of gene 20 in type A only, and no effect; sparse counts-like data."""
    rng = np.random.default_rng(seed)
    parts, obs = [], []
    for group, n in (("control", 600), ("shift", 200), ("one_type", 200), ("none", 200)):
        ct = np.where(rng.random(n) < 0.5, "A", "B")
        a = rng.normal(size=(n, N_GENES)).astype(np.float32)
        a[ct == "A", :5] += 3.0
        if group == "shift":
            a[:, 10:13] += 1.0
        if group == "one_type":
            a[ct == "A", 20] += 1.5
        parts.append(np.maximum(a, 0.0))  # zeros: a sparse matrix worth storing as one
        obs.append(pd.DataFrame({"drug": group, "cell_type": ct}))
    obs = pd.concat(obs, ignore_index=True)
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(sparse.csr_matrix(np.vstack(parts)), obs=obs)
    adata.var_names = [f"g{j}" for j in range(N_GENES)]
    return adata


def _fit(adata: ad.AnnData, target: str | list[str]) -> ad.AnnData:
    return sso.tl.sparse_ot(
        adata, groupby="drug", source="control", target=target, config=CONFIG, progress=False, copy=True
    )


def test_screen_prepares_the_source_once_and_calls_each_drug_as_if_alone(monkeypatch):
    adata = _screen()
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return prepare_source(*args, **kwargs)

    monkeypatch.setattr(_runner, "prepare_source", counted)
    drugs = ["shift", "one_type", "none"]
    screen = _fit(adata, drugs)
    assert len(calls) == 1  # once for the three drugs
    genes = sso.get.perturbed_genes(screen, selected_only=True)
    assert set(genes.loc[genes["target"] == "shift", "gene"]) == {"g10", "g11", "g12"}
    assert set(genes.loc[genes["target"] == "one_type", "gene"]) == {"g20"}
    assert not (genes["target"] == "none").any()
    table = sso.get.perturbed_genes(screen)
    for drug in drugs:
        alone = sso.get.perturbed_genes(_fit(adata, drug))
        mine = table[table["target"] == drug].reset_index(drop=True)
        pd.testing.assert_series_equal(mine["gene"], alone["gene"])
        np.testing.assert_array_equal(mine["selected"], alone["selected"])
        np.testing.assert_array_equal(mine["p_value"], alone["p_value"])
        np.testing.assert_allclose(
            mine["mean_displacement"], alone["mean_displacement"], rtol=1e-6, atol=1e-7
        )


def test_dask_screen_scatters_the_source_once_and_gives_the_sequential_calls():
    distributed = pytest.importorskip("distributed")
    adata = _screen()
    drugs = ["shift", "one_type", "none"]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        scattered = []
        scatter = client.scatter

        def counted(data, **kwargs):
            scattered.append((len(data), kwargs.get("broadcast")))
            return scatter(data, **kwargs)

        client.scatter = counted
        out = sso.tl.sparse_ot(
            adata,
            groupby="drug",
            source="control",
            target=drugs,
            config=CONFIG,
            progress=False,
            copy=True,
            executor=client.get_executor(),
        )
    assert scattered == [(2, True)]  # the control cells and the prepared source, once for three drugs
    a, b = sso.get.perturbed_genes(out), sso.get.perturbed_genes(_fit(adata, drugs))
    pd.testing.assert_series_equal(a["gene"], b["gene"])
    np.testing.assert_array_equal(a["selected"], b["selected"])
    np.testing.assert_allclose(a["p_value"], b["p_value"], rtol=1e-6)


def test_prepared_source_gives_the_fit_on_the_cells():
    adata = _screen(1)
    x = adata[adata.obs["drug"] == "control"].X
    y = adata[adata.obs["drug"] == "one_type"].X
    source = prepare_source(x, config=CONFIG, seed=3)
    assert source.shape == (600, N_GENES) and source.x.dtype == np.float32
    a = fit_conditional(source, y, config=CONFIG, seed=3, train=False)
    b = fit_conditional(x, y, config=CONFIG, seed=3, train=False)
    np.testing.assert_array_equal(a.p_value, b.p_value)
    np.testing.assert_array_equal(a.source_states, b.source_states)
    np.testing.assert_array_equal(a.map.displacement(source.x), b.map.displacement(source.x))
    with pytest.raises(ValueError, match="n_pcs=20 but the fit's config has n_pcs=5"):
        fit_conditional(source, y, config=ConditionalConfig(n_pcs=5))
    with pytest.raises(ValueError, match="different numbers of genes: 30 and 29"):
        fit_conditional(source, y[:, :29])


def test_a_csr_screen_is_densified_one_group_at_a_time(monkeypatch):
    from scsparseot.core import CellData

    adata = _screen(2)
    before = adata.copy()
    shapes = []
    real = CellData.to_numpy

    def recorded(self):
        out = real(self)
        shapes.append(out.shape)
        return out

    monkeypatch.setattr(CellData, "to_numpy", recorded)
    out = _fit(adata, ["shift", "one_type", "none"])
    largest = int(adata.obs["drug"].value_counts().max())
    assert shapes and max(s[0] for s in shapes) <= largest < adata.n_obs  # never the whole matrix
    # the control group once (its prepared source), each drug's cells once
    assert sorted(s[0] for s in shapes) == [200, 200, 200, 600]
    assert sparse.issparse(adata.X) and (adata.X != before.X).nnz == 0 and out.n_obs == adata.n_obs
