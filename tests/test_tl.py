from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scsparseot as sso
from scsparseot import _schema
from scsparseot.get._access import displacement

from .conftest import FAST, true_idx


def test_recovers_each_drugs_genes(fitted):
    for drug, truth in fitted.uns["true_genes"].items():
        table = sso.get.perturbed_genes(fitted, target=drug)
        top = set(table.head(len(truth))["gene"])
        assert top == set(truth), drug
        selected = set(table.loc[table["selected"], "gene"])
        assert set(truth) <= selected
        assert len(selected) <= len(truth) + 2


def test_layers_schema(fitted):
    src = (fitted.obs["drug"] == "control").to_numpy()
    for drug in ("drug_1", "drug_2"):
        layer = fitted.layers[f"sparse_ot_displacement_{drug}"]
        assert sparse.issparse(layer)
        assert layer.format == "csr"
        assert layer.dtype == np.float32
        assert layer.shape == fitted.shape
        assert layer[~src].nnz == 0  # only source rows hold displacements
        dense = layer[src].toarray()
        # the true genes move in most source cells and in the drug's direction
        idx = true_idx(fitted, drug)
        assert (dense[:, idx] != 0).mean() > 0.8
        treated = (fitted.obs["drug"] == drug).to_numpy()
        expected_sign = np.sign(fitted.X[treated][:, idx].mean(0) - fitted.X[src][:, idx].mean(0))
        np.testing.assert_array_equal(np.sign(dense[:, idx].mean(0)), expected_sign)


def test_layer_entries_respect_support_tol(fitted):
    src = (fitted.obs["drug"] == "control").to_numpy()
    tol = sso.core.default_support_tol(fitted.X[src])
    layer = fitted.layers["sparse_ot_displacement_drug_1"][src].toarray()
    nz = layer != 0
    assert np.all(np.abs(layer)[nz] > np.broadcast_to(tol, layer.shape)[nz])


def test_varm_support_matches_layers(fitted):
    support = fitted.varm["sparse_ot_support"]
    assert list(support.columns) == ["drug_1", "drug_2"]
    assert support.index.equals(fitted.var_names)
    src = (fitted.obs["drug"] == "control").to_numpy()
    for drug in support.columns:
        layer = fitted.layers[f"sparse_ot_displacement_{drug}"][src]
        frac = np.asarray((layer != 0).mean(0)).ravel()
        np.testing.assert_allclose(support[drug].to_numpy(), frac, atol=1e-12)


def test_uns_summary_and_params(fitted):
    res = fitted.uns["sparse_ot"]
    assert list(res["summary"].index) == ["drug_1", "drug_2"]
    assert res["params"]["groupby"] == "drug"
    assert res["params"]["source"] == "control"
    assert list(res["params"]["targets"]) == ["drug_1", "drug_2"]
    assert res["params"]["config"]["n_iters"] == FAST.n_iters
    summary = sso.get.summary(fitted)
    assert (summary["n_source"] == 150).all()
    assert (summary["avg_dim"] < 8).all()
    # 150 control cells cannot give null maps with the target's 150 cells: halves, and it says so
    assert (summary["null"] == "halves").all()
    assert (summary["responder_fraction_low"] <= summary["responder_fraction"]).all()
    assert (summary["responder_fraction"] <= summary["responder_fraction_high"]).all()
    hist = sso.get.training_history(fitted, target="drug_1")
    assert hist["step"].is_monotonic_increasing
    assert len(hist) == len(res["history"][res["history"]["target"] == "drug_1"])


def test_single_target_layer_name(synthetic):
    out = sso.tl.sparse_ot(synthetic, target="drug_2", config=FAST, lam=1.0, progress=False, copy=True)
    # one scheme whatever the number of targets
    assert [k for k in out.layers if k.startswith("sparse_ot_")] == ["sparse_ot_displacement_drug_2"]
    assert list(out.varm["sparse_ot_support"].columns) == ["drug_2"]


def test_legacy_single_target_layer_is_read(synthetic, tmp_path):
    out = sso.tl.sparse_ot(synthetic, target="drug_2", config=FAST, lam=1.0, progress=False, copy=True)
    expected = sso.get.perturbed_genes(out)
    _, _, delta = displacement(out, "sparse_ot", None)
    # results written before 0.1.0 named a single target's layer "<key>_displacement"
    out.layers["sparse_ot_displacement"] = out.layers.pop("sparse_ot_displacement_drug_2")
    out.write_h5ad(tmp_path / "old.h5ad")
    old = ad.read_h5ad(tmp_path / "old.h5ad")
    _, _, again = displacement(old, "sparse_ot", None)
    np.testing.assert_array_equal(again.toarray(), delta.toarray())
    pd.testing.assert_frame_equal(sso.get.perturbed_genes(old), expected)
    fig = sso.pl.displacement(old, top_n=5, return_fig=True)
    assert fig.axes
    # a rerun under the same key replaces the old layer by the new name
    sso.tl.sparse_ot(old, target="drug_2", config=FAST, lam=1.0, progress=False)
    assert "sparse_ot_displacement" not in old.layers
    assert "sparse_ot_displacement_drug_2" in old.layers


def test_copy_false_writes_in_place_and_returns_none(synthetic):
    adata = synthetic.copy()
    assert (
        sso.tl.sparse_ot(adata, target="drug_1", config=FAST, lam=1.0, progress=False, key_added="k") is None
    )
    assert "k" in adata.uns
    assert "k_support" in adata.varm


def test_copy_true_leaves_input_untouched(synthetic):
    before = synthetic.copy()
    out = sso.tl.sparse_ot(synthetic, target="drug_1", config=FAST, lam=1.0, progress=False, copy=True)
    assert out is not synthetic
    assert set(synthetic.uns) == set(before.uns)
    assert set(synthetic.layers) == set()


def test_genes_subset_and_layer_and_sparse_input(synthetic):
    adata = synthetic.copy()
    adata.layers["expr"] = sparse.csr_matrix(adata.X)
    adata.X = np.zeros_like(adata.X)  # would find nothing if read
    genes = list(adata.var_names[:20]) + list(adata.uns["true_genes"]["drug_1"])
    genes = list(dict.fromkeys(genes))
    sso.tl.sparse_ot(adata, target="drug_1", layer="expr", genes=genes, config=FAST, lam=1.0, progress=False)
    table = sso.get.perturbed_genes(adata)
    assert set(table["gene"]) == set(genes)
    assert set(table.head(4)["gene"]) == set(adata.uns["true_genes"]["drug_1"])
    others = ~adata.var_names.isin(genes)
    assert adata.layers["sparse_ot_displacement_drug_1"][:, others].nnz == 0
    assert (adata.varm["sparse_ot_support"].loc[others, "drug_1"] == 0).all()
    np.testing.assert_array_equal(
        adata.uns["sparse_ot"]["params"]["genes"], np.asarray(sorted(genes, key=list(adata.var_names).index))
    )


def test_rerun_same_key_drops_stale_layers(fitted):
    sso.tl.sparse_ot(fitted, target="drug_1", config=FAST, lam=1.0, progress=False)
    assert "sparse_ot_displacement_drug_1" in fitted.layers
    assert "sparse_ot_displacement_drug_2" not in fitted.layers


def test_same_seed_same_result(synthetic):
    kw = {"target": "drug_1", "config": FAST, "progress": False, "copy": True, "seed": 3}
    a = sso.tl.sparse_ot(synthetic, **kw)
    b = sso.tl.sparse_ot(synthetic, **kw)
    np.testing.assert_array_equal(
        a.layers["sparse_ot_displacement_drug_1"].toarray(),
        b.layers["sparse_ot_displacement_drug_1"].toarray(),
    )
    np.testing.assert_array_equal(
        sso.get.perturbed_genes(a)["gene"].to_numpy(), sso.get.perturbed_genes(b)["gene"].to_numpy()
    )


def test_results_do_not_depend_on_target_order(synthetic):
    a = sso.tl.sparse_ot(
        synthetic, target=["drug_1", "drug_2"], config=FAST, lam=1.0, progress=False, copy=True
    )
    b = sso.tl.sparse_ot(
        synthetic, target=["drug_2", "drug_1"], config=FAST, lam=1.0, progress=False, copy=True
    )
    c = sso.tl.sparse_ot(synthetic, target="drug_2", config=FAST, lam=1.0, progress=False, copy=True)
    da, db = (x.layers["sparse_ot_displacement_drug_2"].toarray() for x in (a, b))
    np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(da, c.layers["sparse_ot_displacement_drug_2"].toarray())


def test_lam_zero_is_denser_than_default(synthetic):
    plain = sso.tl.sparse_ot(synthetic, target="drug_1", lam=0.0, config=FAST, progress=False, copy=True)
    sparse_ = sso.tl.sparse_ot(synthetic, target="drug_1", config=FAST, lam=1.0, progress=False, copy=True)
    assert sso.get.summary(plain)["avg_dim"][0] > 2 * sso.get.summary(sparse_)["avg_dim"][0]


@pytest.mark.parametrize("penalty", ["l1", "l0", "k_overlap"])
def test_other_penalties_run_and_rank_true_genes_first(synthetic, penalty):
    out = sso.tl.sparse_ot(
        synthetic, target="drug_1", penalty=penalty, config=FAST, lam=1.0, progress=False, copy=True
    )
    top = set(sso.get.perturbed_genes(out).head(4)["gene"])
    assert top == set(synthetic.uns["true_genes"]["drug_1"])
    assert out.uns["sparse_ot"]["params"]["penalty"] == penalty


def test_penalty_instance(synthetic):
    out = sso.tl.sparse_ot(
        synthetic,
        target="drug_1",
        penalty=sso.core.STVS(gamma=0.5),
        config=FAST,
        lam=1.0,
        progress=False,
        copy=True,
    )
    assert out.uns["sparse_ot"]["params"]["penalty"] == "STVS"
    assert out.uns["sparse_ot"]["params"]["penalty_params"] == {"gamma": 0.5}


def test_get_map_reproduces_layer(fitted):
    m = sso.get.map(fitted, target="drug_2")
    src = (fitted.obs["drug"] == "control").to_numpy()
    delta = m.displacement(fitted.X[src], sparsify=True)
    np.testing.assert_allclose(
        delta, fitted.layers["sparse_ot_displacement_drug_2"][src].toarray(), atol=1e-5
    )


def test_store_maps_false(synthetic):
    out = sso.tl.sparse_ot(
        synthetic, target="drug_1", config=FAST, lam=1.0, progress=False, copy=True, store_maps=False
    )
    with pytest.raises(KeyError, match="store_maps=True"):
        sso.get.map(out)


def test_schema_layer_key():
    assert _schema.layer_key("k", "d") == "k_displacement_d"
    assert _schema.legacy_layer_key("k") == "k_displacement"


SMALL_ANNEAL = sso.core.AnnealConfig(n_init=150, n_train=40, decay=0.6)


def test_lam_auto_anneals_and_records_moves(synthetic):
    out = sso.tl.sparse_ot(
        synthetic, target="drug_1", config=FAST, lam="auto", anneal=SMALL_ANNEAL, progress=False, copy=True
    )
    moves = out.uns["sparse_ot"]["moves"]
    n = sso.core.annealing.n_moves(SMALL_ANNEAL)
    assert len(moves) == n + 1  # the initial state and one row per proposal
    assert moves["accepted"].dtype == bool
    assert moves["temperature"].is_monotonic_decreasing
    summary = sso.get.summary(out)
    assert summary["reason"][0] == "annealed"
    assert summary["lam"][0] != 1.0  # λ moved
    # the final λ is the last accepted one
    assert summary["lam"][0] == pytest.approx(moves.loc[moves["accepted"], "lam"].iloc[-1])
    assert set(sso.get.perturbed_genes(out).head(4)["gene"]) == set(synthetic.uns["true_genes"]["drug_1"])
    assert out.uns["sparse_ot"]["params"]["lam"] == "auto"
    assert 2.0 <= summary["avg_dim"][0] <= 6.0  # within ±50 % of the 4 planted genes: neither dense nor empty


def test_max_genes_limit_holds_and_raises_lam(synthetic):
    out = sso.tl.sparse_ot(
        synthetic,
        target="drug_1",
        lam=0.05,
        max_genes=4,
        config=FAST,
        anneal=SMALL_ANNEAL,
        progress=False,
        copy=True,
    )
    summary = sso.get.summary(out)
    assert summary["reason"][0] == "dimension_met"
    assert summary["avg_dim"][0] <= 4.0
    assert summary["lam"][0] > 0.05
    moves = out.uns["sparse_ot"]["moves"]
    # after the raises, accepted downward moves keep the limit
    assert (moves.loc[moves["accepted"], "dim"] <= 4.0).iloc[-1]
    # the unconstrained fit at the start moves more genes than the limit allows
    plain = sso.tl.sparse_ot(synthetic, target="drug_1", lam=0.05, config=FAST, progress=False, copy=True)
    assert sso.get.summary(plain)["avg_dim"][0] > 8.0
    assert set(sso.get.perturbed_genes(out, selected_only=True)["gene"]) == set(
        synthetic.uns["true_genes"]["drug_1"]
    )


def test_stability_refits_record_selection_frequency(synthetic):
    out = sso.tl.sparse_ot(
        synthetic, target="drug_1", config=FAST, lam=1.0, n_runs=3, progress=False, copy=True
    )
    table = sso.get.perturbed_genes(out)
    freq = table.set_index("gene")["selection_frequency"]
    assert freq.between(0, 1).all()
    assert set(np.round(freq * 3, 6)) <= {0.0, 1.0, 2.0, 3.0}  # multiples of 1/3
    truth = list(synthetic.uns["true_genes"]["drug_1"])
    assert (freq[truth] == 1.0).all()
    assert freq.drop(truth).mean() < 0.2
    plain = sso.get.perturbed_genes(
        sso.tl.sparse_ot(synthetic, target="drug_1", config=FAST, lam=1.0, progress=False, copy=True)
    )
    assert plain["selection_frequency"].isna().all()


def test_response_score_and_responder_fraction():
    adata = sso.datasets.synthetic_perturbation(
        n_cells=300, n_genes=20, n_perturbed=3, intensity=4.0, response_fraction=0.5, seed=4
    )
    sso.tl.sparse_ot(adata, config=FAST, lam=1.0, progress=False)
    col = adata.obs["sparse_ot_response_drug_1"]
    src = (adata.obs["drug"] == "control").to_numpy()
    assert (col >= 0).all()  # source rows and the target's own rows are scored
    # treated cells: the responders (obs["responder"]) score above the cells the drug left alone
    treated = ~src
    responder = adata.obs["responder"].to_numpy(bool)
    assert col[treated & responder].median() > 2 * col[treated & ~responder].median()
    # the response equals the norm of each source row of the displacement layer
    layer = adata.layers["sparse_ot_displacement_drug_1"][src].toarray()
    np.testing.assert_allclose(col[src].to_numpy(), np.linalg.norm(layer, axis=1), rtol=1e-5, atol=1e-6)
    # half of the treated cells respond: the estimate is near 0.5 although the map moves every cell
    summary = sso.get.summary(adata).iloc[0]
    assert summary["responder_fraction"] == pytest.approx(0.5, abs=0.1)
    assert summary["responder_fraction_low"] < 0.5 < summary["responder_fraction_high"]
    assert summary["responder_fraction_high"] - summary["responder_fraction_low"] < 0.4
    selected = sso.get.perturbed_genes(adata, selected_only=True)["gene"]
    cols = adata.var_names.get_indexer(selected)
    assert (layer[:, cols] != 0).any(1).mean() > 0.8
    # a monotone OT map moves the cells that are already high in a shifted gene the most
    top = cols[0]
    x_top = adata.X[src][:, top]
    sign = np.sign(layer[:, top].mean())
    assert np.corrcoef(sign * x_top, np.abs(layer[:, top]))[0, 1] > 0.3


@pytest.mark.parametrize("method", ["exact", "translation"])
def test_baseline_methods_share_the_schema(synthetic, method):
    out = sso.tl.sparse_ot(synthetic, target="drug_1", method=method, progress=False, copy=True)
    summary = sso.get.summary(out)
    assert summary["reason"][0] == "closed_form"
    assert out.uns["sparse_ot"]["params"]["method"] == method
    layer = out.layers["sparse_ot_displacement_drug_1"]
    src = (synthetic.obs["drug"] == "control").to_numpy()
    assert layer[~src].nnz == 0
    table = sso.get.perturbed_genes(out)
    assert set(table.head(4)["gene"]) == set(synthetic.uns["true_genes"]["drug_1"])
    with pytest.raises(KeyError, match="was not stored"):
        sso.get.map(out)


@pytest.mark.parametrize("method", ["exact", "translation", "elastic", "rgd"])
def test_baseline_params_record_only_what_the_method_used(synthetic, tmp_path, method):
    import anndata as ad

    small = synthetic[synthetic.obs["drug"].isin(["control", "drug_1"])].copy()
    max_genes = 4 if method == "rgd" else None
    sso.tl.sparse_ot(small, method=method, max_genes=max_genes, fdr=None, progress=False)
    path = tmp_path / "b.h5ad"
    small.write_h5ad(path)
    p = sso.get.params(ad.read_h5ad(path))
    assert p["method"] == method
    unused = ("lam", "anneal", "n_iters", "batch_size", "config", "device", "store_maps")
    assert all(p[name] is None for name in unused)
    assert p["max_genes"] == max_genes  # rgd's limit, None for the others
    assert p["penalty"] == ("stvs" if method == "elastic" else None)  # the elastic map's fixed penalty
    assert p["penalty_params"] == {}
    assert p["support_tol"] is None and p["min_support"] == 0.1  # used: they sparsify and select


def test_exact_ot_is_dense_and_sparse_icnn_is_not(fitted, synthetic):
    exact = sso.tl.sparse_ot(synthetic, target="drug_1", method="exact", progress=False, copy=True)
    assert sso.get.summary(exact)["avg_dim"][0] > 0.8 * synthetic.n_vars
    assert sso.get.summary(fitted)["avg_dim"].max() < 8


def test_conditional_map_finds_a_one_type_response_and_its_cells(tmp_path):
    import anndata as ad

    rng = np.random.default_rng(0)
    n, d = 240, 30
    x = rng.normal(size=(2 * n, d)).astype(np.float32)
    cell_type = np.where(np.arange(2 * n) % 4 == 0, "mono", "lymph")  # a quarter are monocytes
    x[cell_type == "mono", :5] += 4.0  # the types differ in genes 0-4
    drug = np.repeat(["control", "drug"], n)
    hit = (drug == "drug") & (cell_type == "mono")
    x[np.ix_(hit, [20, 21, 22])] += 1.2  # the drug acts in monocytes only, on genes all types share
    adata = ad.AnnData(x, obs={"drug": drug, "cell_type": cell_type})
    adata.var_names = [f"g{i}" for i in range(d)]
    sso.tl.sparse_ot(adata, groupby="drug", source="control", progress=False)  # the defaults
    assert sso.get.params(adata)["method"] == "conditional"
    genes = sso.get.perturbed_genes(adata, selected_only=True)
    assert set(genes["gene"]) == {"g20", "g21", "g22"}
    summary = sso.get.summary(adata)
    assert summary["reason"][0] in ("converged", "max_iters") and summary["n_iters"][0] > 0
    assert summary["null"][0] == "tests"
    # a quarter of the treated cells respond, weakly (estimates of overlapping responders run low):
    # the interval excludes no response and a response of half the cells
    low, rho, high = summary.loc[
        0, ["responder_fraction_low", "responder_fraction", "responder_fraction_high"]
    ]
    assert 0.1 < low <= rho <= high < 0.35
    df = sso.get.response(adata, groupby="cell_type")
    med = df.groupby(["side", "group"], observed=True)["response"].median()
    assert med["source", "mono"] > 1.0 and med["source", "lymph"] == 0.0  # lymphocytes stay in place
    assert med["target", "mono"] > 1.0 > 5 * med["target", "lymph"]
    fig = sso.pl.response(adata, groupby="cell_type", return_fig=True)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["mono", "lymph"]  # responders first
    path = tmp_path / "c.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(sso.get.summary(back), summary)
    m = sso.get.map(back)
    assert isinstance(m, sso.core.ConditionalMap) and m.state_maps  # the trained state maps survive
    src = (adata.obs["drug"] == "control").to_numpy()
    np.testing.assert_allclose(
        adata.layers["sparse_ot_displacement_drug"][src].toarray(),
        m.displacement(x[src], sparsify=True),
        atol=1e-6,
    )


def test_conditional_closed_form_and_lambda_rules(synthetic):
    closed = sso.tl.sparse_ot(synthetic, target="drug_1", n_iters=0, progress=False, copy=True)
    assert sso.get.summary(closed)["reason"][0] == "closed_form"
    assert not sso.get.map(closed, target="drug_1").state_maps
    # λ settings choose the gene-wise ICNN; lam='auto' and max_genes are its searches only
    icnn = sso.tl.sparse_ot(synthetic, target="drug_1", lam=1.0, n_iters=20, progress=False, copy=True)
    assert sso.get.params(icnn)["method"] == "sparse_icnn"
    with pytest.raises(ValueError, match="method='conditional' takes a fixed lam"):
        sso.tl.sparse_ot(synthetic, method="conditional", lam="auto", progress=False, copy=True)
    with pytest.raises(ValueError, match="method='conditional' takes a fixed lam"):
        sso.tl.sparse_ot(synthetic, method="conditional", max_genes=5, progress=False, copy=True)


def test_method_errors(synthetic):
    with pytest.raises(ValueError, match="Unknown method 'ot'"):
        sso.tl.sparse_ot(synthetic, method="ot", progress=False, copy=True)
    with pytest.raises(ValueError, match="needs max_genes"):
        sso.tl.sparse_ot(synthetic, method="rgd", progress=False, copy=True)


def test_fdr_control_vs_control_selects_nothing(synthetic):
    ctrl = synthetic[synthetic.obs["drug"] == "control"].copy()
    ctrl.obs["drug"] = np.where(np.arange(ctrl.n_obs) % 2, "control", "mock")
    sso.tl.sparse_ot(ctrl, config=FAST, lam=1.0, progress=False)
    table = sso.get.perturbed_genes(ctrl)
    assert not table["selected"].any()
    assert table["p_value"].between(0, 1).all()
    assert (table["adj_p_value"] >= table["p_value"] - 1e-12).all()


def test_fdr_null_matches_few_treated_cells():
    # 1200 control cells against 60 "treated" control-like cells: null maps between halves of the
    # control are far quieter than this comparison (with them, 14-22 of the 40 genes were called);
    # null maps with 60 cells on their treated side call at most one
    import anndata as ad

    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(1260, 40)).astype(np.float32)
        obs = pd.DataFrame(
            {"drug": np.repeat(["control", "mock"], [1200, 60])}, index=[f"c{i}" for i in range(1260)]
        )
        adata = ad.AnnData(x, obs=obs)
        sso.tl.sparse_ot(adata, groupby="drug", source="control", lam=1.0, n_iters=150, progress=False)
        assert sso.get.summary(adata)["null"][0] == "matched"
        assert sso.get.perturbed_genes(adata)["selected"].sum() <= 1


def test_fdr_selects_true_genes_with_tiny_pvalues(fitted):
    table = sso.get.perturbed_genes(fitted)
    for drug, truth in fitted.uns["true_genes"].items():
        sub = table[table["target"] == drug].set_index("gene")
        assert (sub.loc[list(truth), "adj_p_value"] < 1e-3).all()
        assert set(sub.index[sub["selected"]]) == set(truth)


def test_fdr_none_skips_the_null(synthetic):
    out = sso.tl.sparse_ot(
        synthetic, target="drug_1", config=FAST, lam=1.0, fdr=None, progress=False, copy=True
    )
    table = sso.get.perturbed_genes(out)
    assert table["p_value"].isna().all()
    assert out.uns["sparse_ot"]["params"]["fdr"] is None
    assert set(table.loc[table["selected"], "gene"]) >= set(synthetic.uns["true_genes"]["drug_1"])


def test_default_takes_its_config_and_records_it(synthetic):
    from scsparseot.core import ConditionalConfig, TrainConfig

    cfg = ConditionalConfig(
        n_states=1, spread=False, train=TrainConfig(hidden=(8,), n_iters=20, eval_every=10)
    )
    out = sso.tl.sparse_ot(synthetic, target="drug_1", config=cfg, progress=False, copy=True)
    p = sso.get.params(out)
    assert (
        p["method"] == "conditional" and p["conditional"]["n_states"] == 1 and not p["conditional"]["spread"]
    )
    assert p["config"]["n_iters"] == 20 and p["n_null"] is None and p["min_support"] is None
    assert sso.get.map(out, target="drug_1").n_states == 1
    hist = sso.get.training_history(out)
    assert set(hist["state"]) == {0} and hist["step"].max() == 20
    # n_iters= overrides the state networks' iterations; a TrainConfig alone sets only those
    short = sso.tl.sparse_ot(
        synthetic, target="drug_1", config=cfg.train, n_iters=10, progress=False, copy=True
    )
    assert sso.get.params(short)["config"]["n_iters"] == 10
    assert sso.get.params(short)["conditional"]["n_states"] == ConditionalConfig().n_states
    # the gene-wise ICNN records no conditional settings and one network for every cell
    icnn = sso.tl.sparse_ot(synthetic, target="drug_1", lam=1.0, n_iters=20, progress=False, copy=True)
    assert sso.get.params(icnn)["conditional"] is None
    assert (sso.get.training_history(icnn)["state"] == -1).all()


def test_default_progress_bar_runs_over_its_states(synthetic, capsys):
    sso.tl.sparse_ot(synthetic, target="drug_1", n_iters=20, progress=True, copy=True)
    assert "state=" in capsys.readouterr().err


def test_lam_says_that_it_selects_the_sparse_icnn(synthetic, caplog):
    import logging

    kw = {"target": "drug_1", "progress": False, "copy": True}
    with caplog.at_level(logging.INFO, logger="scsparseot"):
        out = sso.tl.sparse_ot(synthetic, lam=1.0, n_iters=20, **kw)
    assert out.uns["sparse_ot"]["params"]["method"] == "sparse_icnn"
    assert "lam= given: fitting the sparse ICNN on all genes" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="scsparseot"):
        sso.tl.sparse_ot(synthetic, n_iters=0, **kw)
    assert "sparse ICNN" not in caplog.text
