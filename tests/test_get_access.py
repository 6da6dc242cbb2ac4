"""The accessors the plots read results through (``scsparseot.get._access``)."""

from __future__ import annotations

import numpy as np
import pytest
from anndata.tests.helpers import assert_equal

import scsparseot as sso
from scsparseot.get import _access


def test_targets_and_rows(fitted):
    assert _access.check_targets(fitted, "sparse_ot", None) == ["drug_1", "drug_2"]
    assert _access.check_targets(fitted, "sparse_ot", "drug_2") == ["drug_2"]
    assert _access.check_target(fitted, "sparse_ot", "drug_1") == "drug_1"
    with pytest.raises(ValueError, match="pick one with target="):
        _access.check_target(fitted, "sparse_ot", None)
    with pytest.raises(KeyError, match=r"fitted targets: \['drug_1', 'drug_2'\]"):
        _access.check_targets(fitted, "sparse_ot", ["drug_1", "drug_9"])
    with pytest.raises(ValueError, match="targets is empty"):
        _access.check_targets(fitted, "sparse_ot", [], allow_empty=False)
    labels = fitted.obs["drug"].astype(str).to_numpy()
    np.testing.assert_array_equal(
        _access.source_rows(fitted, "sparse_ot"), np.flatnonzero(labels == "control")
    )
    np.testing.assert_array_equal(
        _access.target_rows(fitted, "sparse_ot", "drug_2"), np.flatnonzero(labels == "drug_2")
    )
    del fitted.obs["drug"]
    with pytest.raises(KeyError, match=r"adata.obs\['drug'\], the groupby column .* is missing"):
        _access.source_rows(fitted, "sparse_ot")


def test_displacement_is_the_layer_on_the_source_rows(fitted):
    before = fitted.copy()
    target, rows, delta = _access.displacement(fitted, "sparse_ot", "drug_1")
    assert target == "drug_1"
    np.testing.assert_array_equal(rows, _access.source_rows(fitted, "sparse_ot"))
    np.testing.assert_array_equal(
        delta.toarray(), fitted.layers["sparse_ot_displacement_drug_1"][rows].toarray()
    )
    assert_equal(fitted, before)  # read only
    del fitted.layers["sparse_ot_displacement_drug_1"]
    with pytest.raises(KeyError, match=r"layers\['sparse_ot_displacement_drug_1'\] is missing; rerun"):
        _access.displacement(fitted, "sparse_ot", "drug_1")


def test_fitted_data_follows_the_fit_layer_and_genes(synthetic):
    adata = synthetic[synthetic.obs["drug"].isin(["control", "drug_1"])].copy()
    adata.layers["scaled"] = adata.X * 2.0
    genes = list(adata.var_names[3:9])
    sso.tl.sparse_ot(adata, layer="scaled", genes=genes, method="exact", fdr=None, progress=False)
    matrix, idx = _access.fitted_data(adata, "sparse_ot")
    assert matrix is adata.layers["scaled"]
    np.testing.assert_array_equal(idx, np.arange(3, 9))
    sso.tl.sparse_ot(adata, method="exact", fdr=None, progress=False)
    matrix, idx = _access.fitted_data(adata, "sparse_ot")
    assert matrix is adata.X
    np.testing.assert_array_equal(idx, np.arange(adata.n_vars))


def test_moves_only_for_a_lambda_search(fitted):
    assert _access.moves(fitted, "sparse_ot", "drug_1") is None  # the fixture fits a fixed λ
    with pytest.raises(KeyError, match="was not fitted"):
        _access.moves(fitted, "sparse_ot", "drug_9")
