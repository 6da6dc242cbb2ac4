from __future__ import annotations

import pandas as pd
import pytest

import scsparseot as sso
from scsparseot._schema import GENE_COLUMNS, SUMMARY_COLUMNS


def test_perturbed_genes_columns_fixed_whatever_the_filters(fitted):
    for kwargs in ({}, {"target": "drug_1"}, {"top_n": 2}, {"min_support": 0.5}, {"selected_only": True}):
        df = sso.get.perturbed_genes(fitted, **kwargs)
        assert tuple(df.columns) == GENE_COLUMNS, kwargs


def test_perturbed_genes_long_and_ranked(fitted):
    df = sso.get.perturbed_genes(fitted)
    assert len(df) == 2 * fitted.n_vars
    assert list(pd.unique(df["target"])) == ["drug_1", "drug_2"]
    for _, sub in df.groupby("target"):
        assert sub["rank"].tolist() == list(range(1, fitted.n_vars + 1))
        assert sub["mean_abs_displacement"].is_monotonic_decreasing
        assert (sub["mean_abs_displacement"] >= sub["mean_displacement"].abs() - 1e-6).all()


def test_perturbed_genes_filters(fitted):
    top = sso.get.perturbed_genes(fitted, top_n=3)
    assert top.groupby("target").size().tolist() == [3, 3]
    one = sso.get.perturbed_genes(fitted, target="drug_2", min_support=0.5)
    assert set(one["target"]) == {"drug_2"}
    assert (one["support_fraction"] >= 0.5).all()
    sel = sso.get.perturbed_genes(fitted, selected_only=True)
    assert sel["selected"].all()
    order = sso.get.perturbed_genes(fitted, target=["drug_2", "drug_1"], top_n=1)
    assert order["target"].tolist() == ["drug_2", "drug_1"]
    with pytest.raises(ValueError, match="top_n"):
        sso.get.perturbed_genes(fitted, top_n=0)


def test_summary(fitted):
    df = sso.get.summary(fitted)
    assert tuple(df.columns) == ("target", *SUMMARY_COLUMNS)
    assert df["target"].tolist() == ["drug_1", "drug_2"]
    assert (df["n_selected_genes"] >= 4).all()
    assert (df["seconds"] > 0).all()


def test_missing_key_and_target(fitted):
    with pytest.raises(
        KeyError, match=r"No scsparseot results under adata.uns\['other'\].*Results found under: 'sparse_ot'"
    ):
        sso.get.perturbed_genes(fitted, key="other")
    with pytest.raises(KeyError, match="fitted targets"):
        sso.get.perturbed_genes(fitted, target="drug_7")
    with pytest.raises(ValueError, match="pick one with target="):
        sso.get.map(fitted)
