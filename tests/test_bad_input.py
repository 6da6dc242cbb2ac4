"""Bad input raises a clear error naming the fix and leaves the AnnData untouched."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from anndata.tests.helpers import assert_equal
from scipy import sparse

import scsparseot as sso

from .conftest import FAST


@pytest.fixture
def small(synthetic) -> ad.AnnData:
    return synthetic[synthetic.obs["drug"].isin(["control", "drug_1"])].copy()


def _check(adata, exc, match, **kwargs):
    before = adata.copy()
    kw = {"config": FAST, "lam": 1.0, "progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        sso.tl.sparse_ot(adata, **kw)
    assert_equal(adata, before)


def test_not_anndata():
    with pytest.raises(TypeError, match="AnnData"):
        sso.tl.sparse_ot(np.zeros((4, 2)))


def test_missing_groupby(small):
    _check(small, KeyError, r"groupby='condition'.*Available columns: 'drug'", groupby="condition")


def test_unknown_source(small):
    _check(small, KeyError, r"source='ctrl'.*Available: 'control', 'drug_1'", source="ctrl")


def test_unknown_target(small):
    _check(small, KeyError, r"'drug_9'.*not found.*Available", target="drug_9")


def test_target_equals_source(small):
    _check(small, ValueError, "source group 'control'.*Remove it", target="control")


def test_too_few_cells(small):
    adata = small.copy()
    adata.obs["drug"] = adata.obs["drug"].cat.add_categories("lonely")
    adata.obs.iloc[-1, adata.obs.columns.get_loc("drug")] = "lonely"
    _check(adata, ValueError, "'lonely' has 1 cell", target="lonely")


def test_too_few_cells_auto_target_is_skipped_with_warning(small):
    adata = small.copy()
    adata.obs["drug"] = adata.obs["drug"].cat.add_categories("lonely")
    adata.obs.iloc[-1, adata.obs.columns.get_loc("drug")] = "lonely"
    with pytest.warns(UserWarning, match="Skipping group 'lonely'") as caught:
        sso.tl.sparse_ot(adata, config=FAST, lam=1.0, progress=False)
    assert list(adata.uns["sparse_ot"]["summary"].index) == ["drug_1"]
    assert caught[0].filename == __file__  # the warning points at the caller's line


def test_nan_in_data(small):
    adata = small.copy()
    adata.X[3, 2] = np.nan
    _check(adata, ValueError, "NaN/infinite.*impute")


def test_inf_in_target(small):
    adata = small.copy()
    adata.X[-1, 0] = np.inf
    _check(adata, ValueError, r"target \('drug_1'\).*NaN/infinite")


def test_missing_layer(small):
    _check(small, KeyError, "layer='counts'.*Available layers", layer="counts")


def test_non_numeric_matrix(small):
    adata = ad.AnnData(X=np.full(small.shape, "a", dtype=object), obs=small.obs.copy(), var=small.var.copy())
    _check(adata, TypeError, "real numbers")


def test_sparse_csr_is_accepted(small):
    adata = small.copy()
    adata.X = sparse.csr_matrix(adata.X)
    sso.tl.sparse_ot(adata, config=FAST, lam=1.0, progress=False)
    assert "sparse_ot_displacement_drug_1" in adata.layers


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"lam": -1.0}, ValueError, "lam must be a finite number >= 0"),
        ({"lam": "big"}, ValueError, "lam must be a number >= 0 or 'auto'"),
        ({"lam": [1.0]}, TypeError, "lam must be a number"),
        (
            {"penalty": "l2"},
            ValueError,
            "Unknown penalty 'l2'; choose one of 'l1', 'stvs', 'l0', 'k_overlap'",
        ),
        ({"support_tol": -0.1}, ValueError, "support_tol must be None or a number >= 0"),
        ({"genes": []}, ValueError, "genes selects no gene"),
        ({"genes": ["nope"]}, KeyError, "genes not found in adata.var_names: 'nope'"),
        ({"genes": "gene_00"}, TypeError, "wrap it in a list"),
        ({"device": "tpu"}, ValueError, "Unsupported device 'tpu'"),
        ({"n_iters": -1}, ValueError, "n_iters must be None or an integer >= 0"),
        ({"batch_size": 1}, ValueError, "batch_size must be None or an integer >= 2"),
        ({"key_added": ""}, TypeError, "key_added must be a non-empty string"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
        ({"min_support": 2.0}, ValueError, "min_support"),
        ({"n_runs": -1}, ValueError, "n_runs must be a non-negative integer"),
        ({"fdr": 0.0}, ValueError, "fdr must be None or a rate"),
        ({"fdr": 1}, ValueError, r"fdr must be None or a rate in \(0, 1\), got 1"),
        ({"n_null": 0}, ValueError, "n_null must be a positive integer"),
        ({"config": {"n_iters": 3}}, TypeError, "TrainConfig"),
        ({"target": []}, ValueError, "empty list"),
        ({"max_genes": 0}, ValueError, "max_genes must be a number between 0"),
        ({"max_genes": 30}, ValueError, "max_genes must be a number between 0"),
        ({"anneal": {"alpha": 0.5}}, TypeError, "AnnealConfig"),
        ({"target": ["drug_1", "drug_1"]}, ValueError, "more than once"),
    ],
)
def test_bad_options(small, kwargs, exc, match):
    _check(small, exc, match, **kwargs)


@pytest.mark.parametrize(
    ("method", "kwargs", "match"),
    [
        (
            "exact",
            {"lam": 0.5},
            r"^method='exact' does not use lam=0\.5; leave it unset, or use method='sparse_icnn' or "
            r"method='conditional'\.$",
        ),
        ("translation", {"penalty": "l1"}, "method='translation' does not use penalty='l1'"),
        (
            "elastic",
            {"penalty": sso.core.STVS(gamma=0.5)},
            r"method='elastic' does not use penalty=STVS\(\.\.\.\) \(the elastic map's penalty is fixed",
        ),
        ("exact", {"max_genes": 3}, "does not use max_genes=3; .* method='sparse_icnn' or method='rgd'"),
        (
            "rgd",
            {"max_genes": 3, "anneal": sso.core.AnnealConfig()},
            r"method='rgd' does not use anneal=AnnealConfig\(\.\.\.\); .* method='sparse_icnn'\.$",
        ),
        (
            "elastic",
            {"n_iters": 5, "config": FAST},
            r"does not use n_iters=5, config=TrainConfig\(\.\.\.\); leave them unset",
        ),
        ("translation", {"batch_size": 8}, "method='translation' does not use batch_size=8"),
        (
            "exact",
            {"n_runs": 2},
            "method='exact' does not use n_runs=2; leave it unset, or use method='sparse_icnn'",
        ),
    ],
)
def test_baselines_reject_arguments_they_do_not_use(small, method, kwargs, match):
    before = small.copy()
    with pytest.raises(ValueError, match=match):
        sso.tl.sparse_ot(small, method=method, progress=False, **kwargs)
    assert_equal(small, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"anneal": sso.core.AnnealConfig()},
            r"^method='conditional' does not use anneal=AnnealConfig\(\.\.\.\); leave it unset, or use "
            r"method='sparse_icnn'\.$",
        ),
        ({"n_null": 5}, r"does not use n_null=5 \(it tests each gene itself; fdr= sets the level"),
        ({"min_support": 0.5}, r"does not use min_support=0\.5 \(it selects genes by its own tests"),
        ({"n_runs": 2}, r"does not use n_runs=2; leave it unset, or use method='sparse_icnn'\.$"),
        ({"config": sso.core.AnnealConfig()}, r"config must be a scsparseot.core.ConditionalConfig or a"),
        ({"fdr": 1.0}, r"fdr must be None or a rate in \(0, 1\)"),
    ],
)
def test_default_rejects_arguments_it_does_not_use(small, kwargs, match):
    """The default (state-conditional) map raises for what it would ignore, before reading any cell."""
    before = small.copy()
    exc = TypeError if "config" in kwargs else ValueError
    with pytest.raises(exc, match=match):
        sso.tl.sparse_ot(small, progress=False, **kwargs)
    assert_equal(small, before)


def test_sparse_icnn_rejects_the_default_config(small):
    with pytest.raises(
        TypeError, match=r"config must be a scsparseot.core.TrainConfig for method='sparse_icnn'"
    ):
        sso.tl.sparse_ot(small, lam=1.0, config=sso.core.ConditionalConfig(), progress=False)


def test_baselines_accept_the_defaults_and_their_own_arguments(small):
    defaults = {"penalty": "stvs", "lam": None, "n_runs": 0, "config": None, "anneal": None}
    sso.tl.sparse_ot(small, method="exact", fdr=None, progress=False, device="cpu", **defaults)
    assert sso.get.params(small)["method"] == "exact"
    sso.tl.sparse_ot(small, method="rgd", max_genes=2, fdr=None, progress=False)
    assert sso.get.params(small)["max_genes"] == 2.0


def test_the_method_rule_knows_the_signature_defaults_and_every_method():
    import inspect
    from typing import get_args

    from scsparseot._types import MethodName
    from scsparseot.tl._methods import METHOD_ARGS

    sig = inspect.signature(sso.tl.sparse_ot).parameters
    assert {name: sig[name].default for name in METHOD_ARGS} == {n: d for n, (d, _) in METHOD_ARGS.items()}
    methods = set(get_args(MethodName))
    assert all(set(users) <= methods and users for _, users in METHOD_ARGS.values())


def test_slash_in_label(small):
    adata = small.copy()
    adata.obs["drug"] = adata.obs["drug"].cat.rename_categories({"drug_1": "a/b"})
    _check(adata, ValueError, "contain '/'")


def test_missing_labels(small):
    adata = small.copy()
    adata.obs["drug"] = adata.obs["drug"].astype(object)
    adata.obs.iloc[0, adata.obs.columns.get_loc("drug")] = None
    _check(adata, ValueError, "missing labels")


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_duplicated_var_names(small):
    adata = small.copy()
    adata.var_names = pd.Index(["g"] * adata.n_vars)
    _check(adata, ValueError, "var_names_make_unique")


def test_warns_on_constant_genes_counts_and_scales(small):
    const = small.copy()
    const.X[:, 0] = 1.0
    with pytest.warns(UserWarning, match="constant in the source") as caught:
        sso.tl.sparse_ot(const, config=FAST, lam=1.0, fdr=None, progress=False)
    assert {w.filename for w in caught} == {__file__}
    counts = small.copy()
    counts.X = np.round(np.expm1(np.clip(counts.X, 0, None)) * 10).astype(np.float32)
    with pytest.warns(UserWarning, match="raw counts"):
        sso.tl.sparse_ot(counts, config=FAST, lam=1.0, fdr=None, progress=False, copy=True)
    scales = small.copy()
    scales.X[:, 1] *= 1000.0
    with pytest.warns(UserWarning, match=r"sc\.pp\.scale"):
        sso.tl.sparse_ot(scales, config=FAST, lam=1.0, fdr=None, progress=False, copy=True)
