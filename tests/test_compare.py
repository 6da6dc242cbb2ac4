from __future__ import annotations

import warnings

import numpy as np
import pytest
import scanpy as sc

import scsparseot as sso
from scsparseot.get._compare import COMPARE_COLUMNS, compare

from .conftest import FAST


@pytest.fixture
def with_de(fitted):
    adata = fitted.copy()
    with warnings.catch_warnings():
        # scanpy's log fold changes assume log1p data; these synthetic values go below zero
        warnings.filterwarnings("ignore", "invalid value encountered in log2", RuntimeWarning)
        sc.tl.rank_genes_groups(adata, "drug", reference="control", method="t-test")
    return adata


def _de(adata, group, *, cutoff=0.05):
    df = sc.get.rank_genes_groups_df(adata, group=group)
    return set(df.loc[df["pvals_adj"] < cutoff, "names"])


def test_compare_matches_independent_sets(with_de):
    df = compare(with_de)
    assert tuple(df.columns) == COMPARE_COLUMNS
    assert df["target"].tolist() == ["drug_1", "drug_2"]
    for _, row in df.iterrows():
        ot = set(sso.get.perturbed_genes(with_de, target=row["target"], selected_only=True)["gene"])
        de = _de(with_de, row["target"])
        assert row["n_ot"] == len(ot)
        assert row["n_de"] == len(de)
        assert row["n_both"] == len(ot & de)
        assert row["jaccard"] == pytest.approx(len(ot & de) / len(ot | de))
        assert set(filter(None, row["ot_only"].split(", "))) == ot - de
        assert set(filter(None, row["de_only"].split(", "))) == de - ot
    # on a 3 SD shift both methods find the true genes
    for drug, truth in with_de.uns["true_genes"].items():
        row = df.set_index("target").loc[drug]
        assert row["n_both"] >= len(truth) - 1


def test_compare_top_n_genes_by_absolute_score(with_de):
    df = compare(with_de, n_genes=3).set_index("target")
    assert (df["n_de"] == 3).all()
    res = sc.get.rank_genes_groups_df(with_de, group="drug_2")
    top = res.reindex(res["scores"].abs().sort_values(ascending=False).index)["names"].head(3).tolist()
    ot = sso.get.perturbed_genes(with_de, target="drug_2", selected_only=True)["gene"].tolist()
    assert df.loc["drug_2", "de_only"] == ", ".join(g for g in top if g not in ot)
    assert df.loc["drug_2", "ot_only"] == ", ".join(g for g in ot if g not in top)


def test_compare_strict_cutoff_and_strings(with_de):
    df = compare(with_de, pval_cutoff=1e-300)
    assert (df["n_de"] == 0).all()
    assert (df["n_both"] == 0).all()
    assert (df["jaccard"] == 0).all()
    assert (df["de_only"] == "").all()
    assert df["ot_only"].map(lambda s: len(s.split(", "))).tolist() == df["n_ot"].tolist()


def test_compare_missing_de_key_says_how_to_compute(fitted):
    with pytest.raises(KeyError, match=r"rank_genes_groups\(adata, 'drug', reference='control'"):
        compare(fitted)
    with pytest.raises(KeyError, match=r"No scsparseot results under adata\.uns\['nope'\]"):
        compare(fitted, key="nope")


def test_compare_bad_arguments(with_de):
    with pytest.raises(ValueError, match="n_genes"):
        compare(with_de, n_genes=0)
    with pytest.raises(ValueError, match="pval_cutoff"):
        compare(with_de, pval_cutoff=0)
    adata = with_de.copy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered in log2", RuntimeWarning)
        sc.tl.rank_genes_groups(adata, "drug", groups=["drug_1"], reference="control", method="t-test")
    with pytest.raises(KeyError, match=r"Targets \['drug_2'\] have no group"):
        compare(adata)


def test_compare_only_counts_fitted_genes(synthetic):
    genes = synthetic.var_names[:15]
    adata = sso.tl.sparse_ot(synthetic, genes=genes, config=FAST, lam=1.0, progress=False, copy=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered in log2", RuntimeWarning)
        sc.tl.rank_genes_groups(adata, "drug", reference="control", method="t-test")
    df = compare(adata)
    for target in df["target"]:
        de = _de(adata, target)
        assert df.set_index("target").loc[target, "n_de"] == len(de & set(genes))
    assert np.isfinite(df["jaccard"]).all()
