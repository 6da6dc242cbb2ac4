"""Calls in real designs: the user's cell types (state_key), changes of composition and replicates."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scsparseot as sso
from scsparseot.core import composition_test, fit_conditional
from scsparseot.core._conditional_stats import stratified, welch
from scsparseot.core._replicate_stats import moderated_t

N_GENES = 40


def screen(
    *,
    seed: int = 0,
    n: int = 400,
    keep_a: float = 1.0,
    effect_in_a: float = 0.0,
    wells: int = 0,
    well_sd: float = 0.0,
) -> ad.AnnData:
    """Two cell types A and B (told apart by genes 0-4), control and drug; the drug keeps a share of A,
    shifts gene 10 in A, and cells come in ``wells`` wells per group with a per-gene offset each."""
    rng = np.random.default_rng(seed)
    parts = []
    for group in ("control", "drug"):
        ct = np.where(rng.random(n) < 0.5, "A", "B")
        if group == "drug" and keep_a < 1:
            ct = ct[(ct == "B") | (rng.random(n) < keep_a)]
        x = rng.normal(size=(ct.size, N_GENES)).astype(np.float32)
        x[ct == "A", :5] += 3.0
        if group == "drug":
            x[ct == "A", 10] += effect_in_a
        well = np.zeros(ct.size, dtype=int)
        if wells:
            well = rng.integers(wells, size=ct.size)
            x += rng.normal(scale=well_sd, size=(wells, N_GENES)).astype(np.float32)[well]
        parts.append(
            pd.DataFrame(x, columns=[f"g{j}" for j in range(N_GENES)]).assign(
                drug=group, cell_type=ct, well=[f"{group}_{w}" for w in well]
            )
        )
    df = pd.concat(parts, ignore_index=True)
    obs = df[["drug", "cell_type", "well"]].set_axis([f"c{i}" for i in range(len(df))])
    return ad.AnnData(
        df.iloc[:, :N_GENES].to_numpy(np.float32), obs=obs, var=pd.DataFrame(index=df.columns[:N_GENES])
    )


FAST = {"n_iters": 0, "progress": False}


def test_a_change_of_mix_alone_gets_no_gene_calls_and_is_reported_as_composition():
    adata = screen(keep_a=0.25)  # three quarters of type A die; no gene changes in any cell
    from scipy import stats

    drug = (adata.obs["drug"] == "drug").to_numpy()
    assert (
        stats.ttest_ind(adata.X[drug, :5], adata.X[~drug, :5]).pvalue.max() < 1e-3
    )  # a t-test calls the markers
    sso.tl.sparse_ot(adata, **FAST)  # states of its own: no gene call
    assert sso.get.summary(adata)["n_selected_genes"].iloc[0] == 0
    with pytest.warns(UserWarning, match="largest: 'A'"):
        sso.tl.sparse_ot(adata, state_key="cell_type", key_added="typed", **FAST)
    assert sso.get.summary(adata, key="typed")["n_selected_genes"].iloc[0] == 0
    comp = sso.get.composition(adata, key="typed").set_index("state")
    share = adata.obs.groupby("drug")["cell_type"].apply(lambda c: (c == "A").mean())
    truth = np.log2(share["drug"] / share["control"])
    assert truth < -0.9 and abs(comp.loc["A", "log2_ratio"] - truth) < 0.05
    assert comp.loc["A", "adj_p_value"] < 1e-6 and comp.loc["A", "test"] == "cells"
    s = sso.get.summary(adata, key="typed").iloc[0]
    assert s["composition_state"] == "A" and s["composition_log2_ratio"] < -0.9


def test_state_key_finds_a_one_type_effect_in_its_type_only():
    adata = screen(effect_in_a=1.2)
    sso.tl.sparse_ot(adata, state_key="cell_type", **FAST)
    moved = sso.get.state_genes(adata, moved_only=True)
    assert set(zip(moved["state"], moved["gene"], strict=True)) == {("A", "g10")}
    table = sso.get.state_genes(adata, genes=["g10"]).set_index("state")
    assert table.loc["A", "adj_p_value"] < 1e-6 and table.loc["B", "adj_p_value"] > 0.05
    assert 0.9 < table.loc["A", "shift_sd"] < 1.5 and table.loc["A", "n_source"] > 150
    # the obs column holds every source and target cell's label, and the map moves type A only
    col = adata.uns["sparse_ot"]["state_columns"]["drug"]
    assert col == "sparse_ot_state"
    np.testing.assert_array_equal(adata.obs[col].astype(str), adata.obs["cell_type"].astype(str))
    m = sso.get.map(adata)
    x = adata.X[:200]
    d = m.displacement(x, states=adata.obs["cell_type"].to_numpy()[:200])
    in_a = adata.obs["cell_type"].to_numpy()[:200] == "A"
    assert np.all(d[~in_a] == 0) and np.abs(d[in_a, 10]).mean() > 0.5


def test_replicates_keep_well_offsets_from_becoming_calls():
    null = screen(wells=4, well_sd=0.3)
    with warnings.catch_warnings():  # the cells' composition test may warn that it assumes independent cells
        warnings.simplefilter("ignore", UserWarning)
        sso.tl.sparse_ot(null, key_added="cells", **FAST)
    assert sso.get.summary(null, key="cells")["n_selected_genes"].iloc[0] > 3  # pseudoreplication
    sso.tl.sparse_ot(null, replicate_key="well", **FAST)
    s = sso.get.summary(null).iloc[0]
    assert s["n_selected_genes"] == 0 and s["test_level"] == "replicates"
    assert sso.get.composition(null)["test"].eq("replicates").all()
    hit = screen(wells=4, well_sd=0.3, effect_in_a=2.0, seed=1)
    sso.tl.sparse_ot(hit, replicate_key="well", state_key="cell_type", **FAST)
    assert sso.get.perturbed_genes(hit, selected_only=True)["gene"].tolist() == ["g10"]


def test_state_outputs_survive_h5ad(tmp_path):
    adata = screen(effect_in_a=1.2, wells=3, well_sd=0.1)
    sso.tl.sparse_ot(adata, state_key="cell_type", replicate_key="well", **FAST)
    with warnings.catch_warnings():  # the cells' composition test may warn that it assumes independent cells
        warnings.simplefilter("ignore", UserWarning)
        sso.tl.sparse_ot(adata, key_added="auto", **FAST)
    adata.write_h5ad(tmp_path / "a.h5ad")
    back = ad.read_h5ad(tmp_path / "a.h5ad")
    for key in ("sparse_ot", "auto"):
        pd.testing.assert_frame_equal(sso.get.state_genes(back, key=key), sso.get.state_genes(adata, key=key))
        pd.testing.assert_frame_equal(sso.get.composition(back, key=key), sso.get.composition(adata, key=key))
    assert back.uns["auto"]["state_columns"]["drug"] == "auto_state_drug"
    assert back.obs["auto_state_drug"].notna().sum() == adata.n_obs
    assert sso.get.map(back).state_names == ["A", "B"]


def test_bad_labels_get_clear_errors_and_leave_the_data_untouched():
    adata = screen()
    before = (adata.obs.copy(), dict(adata.uns))
    with pytest.raises(KeyError, match="state_key='celltype' is not a column"):
        sso.tl.sparse_ot(adata, state_key="celltype", **FAST)
    with pytest.raises(ValueError, match="groupby column itself"):
        sso.tl.sparse_ot(adata, replicate_key="drug", **FAST)
    with pytest.raises(ValueError, match="does not use state_key"):
        sso.tl.sparse_ot(adata, method="sparse_icnn", lam=1.0, state_key="cell_type", **FAST)
    bad = adata.copy()
    bad.obs["cell_type"] = bad.obs["cell_type"].astype(object)
    bad.obs.iloc[3, bad.obs.columns.get_loc("cell_type")] = np.nan
    with pytest.raises(ValueError, match="1 missing label"):
        sso.tl.sparse_ot(bad, state_key="cell_type", **FAST)
    pd.testing.assert_frame_equal(adata.obs, before[0])
    assert dict(adata.uns) == before[1]
    # one replicate a side: a warning, and the cells are tested (recorded in the summary)
    with pytest.warns(UserWarning, match="needs at least 2 on each side"):
        sso.tl.sparse_ot(adata, replicate_key="well", **FAST)
    assert sso.get.summary(adata)["test_level"].iloc[0] == "cells"
    # a label on one side only is reported, not tested
    adata.obs["typed"] = adata.obs["cell_type"].astype(str)
    adata.obs.loc[(adata.obs["drug"] == "drug") & (adata.obs["typed"] == "B"), "typed"] = "B_treated"
    with (
        pytest.warns(UserWarning, match="too few cells on a side"),
        pytest.warns(UserWarning, match="assumes"),
    ):
        sso.tl.sparse_ot(adata, state_key="typed", **FAST)
    comp = sso.get.composition(adata).set_index("state")
    assert comp.loc["B_treated", "n_source"] == 0 and comp.loc["B_treated", "n_target"] > 100


def test_stratified_test_of_one_state_is_welch_and_ignores_the_mix():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 4)), rng.normal(size=(200, 4)) + np.array([0.5, 0, 0, 0])
    shift, se, df = welch(a, b)
    got, p = stratified(shift[None], se[None], df[None], np.array([1.0]))
    np.testing.assert_allclose(got, shift)
    from scipy import stats

    # Welch's test, or Student's where the pooled variance gives the larger error
    se_welch = np.sqrt(a.var(0, ddof=1) / 300 + b.var(0, ddof=1) / 200)
    expected = np.where(
        se >= se_welch - 1e-12,
        np.where(
            np.isclose(se, se_welch),
            stats.ttest_ind(b, a, equal_var=False).pvalue,
            stats.ttest_ind(b, a).pvalue,
        ),
        np.nan,
    )
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    # two states with different means, the target's mix changed: the stratified shift stays near 0
    x = np.r_[rng.normal(size=(500, 3)), rng.normal(size=(500, 3)) + 3]
    y = np.r_[rng.normal(size=(100, 3)), rng.normal(size=(500, 3)) + 3]
    with pytest.warns(UserWarning, match="largest: 'a', log2 ratio -1.5"):
        fit = fit_conditional(
            x,
            y,
            source_labels=np.repeat(["a", "b"], 500),
            target_labels=np.repeat(["a", "b"], [100, 500]),
            train=False,
        )
    assert (
        not fit.selected.any() and abs(fit.composition["log2_ratio"][0] - np.log2((100 / 600) / 0.5)) < 0.01
    )


def test_moderated_t_blocks_shared_replicates_and_composition_tests_replicates():
    rng = np.random.default_rng(0)
    donor = rng.normal(scale=2.0, size=(4, 50))  # large donor effects, shared by both sides
    control = donor + rng.normal(scale=0.3, size=(4, 50))
    treated = donor + rng.normal(scale=0.3, size=(4, 50))
    treated[:, 0] += 1.5
    means = np.vstack([control, treated])
    side = np.repeat([False, True], 4)
    shift, _, p_paired, df = moderated_t(means, side, np.tile(np.arange(4), 2))
    assert df == 3 and p_paired[0] < 1e-3 and abs(shift[0] - 1.5) < 0.5
    _, _, p_unpaired, _ = moderated_t(means, side)
    assert p_unpaired[0] > p_paired[0]  # without blocks the donor effects swamp the shift
    assert moderated_t(means[:2], side[:2]) is None  # no residual degree of freedom
    # composition across 3 + 3 replicates whose shares vary: replicates as units
    states = np.tile(np.repeat([0, 1], [50, 50]), 6)
    reps = np.repeat([f"r{i}" for i in range(6)], 100)
    out = composition_test(states[:300], states[300:], 2, reps[:300], reps[300:])
    assert set(out["test"]) == {"replicates"} and np.all(out["p_value"] > 0.5)


def test_a_targets_labels_are_part_of_its_checkpoint(tmp_path, monkeypatch):
    from scsparseot.tl import _sparse_ot

    adata = screen(effect_in_a=1.2)
    real, calls = _sparse_ot.fit_target, []
    monkeypatch.setattr(
        _sparse_ot, "fit_target", lambda *a, **k: calls.append(k.get("design")) or real(*a, **k)
    )
    sso.tl.sparse_ot(adata, state_key="cell_type", checkpoint_dir=tmp_path, **FAST)
    sso.tl.sparse_ot(adata, state_key="cell_type", checkpoint_dir=tmp_path, **FAST)
    assert len(calls) == 1 and calls[0].source_states is not None  # resumed: same labels
    adata.obs["swapped"] = adata.obs["cell_type"].map({"A": "B", "B": "A"}).astype(str)
    sso.tl.sparse_ot(adata, state_key="swapped", checkpoint_dir=tmp_path, **FAST)
    assert len(calls) == 2  # other labels: refitted
    assert set(sso.get.state_genes(adata, moved_only=True)["state"]) == {"B"}
