"""Property-based tests of ``tl.sparse_ot`` over random small data (hypothesis).

* Bad input raises the exception it promises (``ValueError``, ``KeyError`` or ``TypeError``) with
  the message of ``_validation.py`` / ``tl/_sparse_ot.py`` that names the problem, and leaves the
  AnnData exactly as it was, whether ``X`` is dense, CSR or CSC.
* Valid input writes every field of the schema with the right shapes and types, warns only with
  the package's own data warnings (constant genes among them), and leaves the input alone.
"""

from __future__ import annotations

import re
import warnings

import anndata as ad
import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from anndata.tests.helpers import assert_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

import scsparseot as sso
from scsparseot._schema import GENE_COLUMNS, SUMMARY_COLUMNS
from scsparseot.core import AnnealConfig, TrainConfig

TINY = TrainConfig(hidden=(8,), n_iters=20, eval_every=10, min_iters=0, batch_size=16)
TINY_ANNEAL = AnnealConfig(n_init=10, n_train=5, decay=0.5, max_increases=3)
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
OUR_WARNINGS = re.compile(
    r"constant in the source|look like raw counts|standard deviations in the source span"
)
FORMATS = ("dense", "csr", "csc")


def _adata(x: np.ndarray, n_source: int, fmt: str, n_targets: int = 1) -> ad.AnnData:
    n = x.shape[0]
    labels = ["control"] * n_source
    rest = n - n_source
    for k in range(n_targets):
        labels += [f"drug_{k + 1}"] * (rest // n_targets + (k < rest % n_targets))
    obs = pd.DataFrame({"drug": pd.Categorical(labels)}, index=[f"c{i}" for i in range(n)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])])
    matrix = {"dense": x, "csr": sparse.csr_matrix(x), "csc": sparse.csc_matrix(x)}[fmt]
    return ad.AnnData(X=matrix, obs=obs, var=var)


@st.composite
def small_data(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    n_source = draw(st.integers(2, 8))
    n_target = draw(st.integers(2, 8))
    n_genes = draw(st.integers(2, 6))
    x = draw(
        hnp.arrays(
            np.float32,
            (n_source + n_target, n_genes),
            elements=st.floats(-5, 5, width=32, allow_nan=False, allow_infinity=False),
        )
    )
    return x, n_source


# each kind of bad input -> (exception type, regex its message must match)
BAD: dict[str, tuple[type[Exception], str]] = {
    "nan": (ValueError, r"cells contain \d+ NaN/infinite value\(s\); remove or impute them"),
    "inf": (ValueError, r"cells contain \d+ NaN/infinite value\(s\); remove or impute them"),
    "negative_lam": (ValueError, r"lam must be a finite number >= 0, got -"),
    "nan_lam": (ValueError, r"lam must be a finite number >= 0, got nan"),
    "max_genes_too_large": (
        ValueError,
        r"max_genes must be a number between 0 and the number of fitted genes \(\d+\), exclusive",
    ),
    "empty_genes": (ValueError, r"genes selects no gene; pass at least one gene name"),
    "missing_gene": (KeyError, r"genes not found in adata\.var_names: 'not_a_gene'"),
    "duplicate_gene": (ValueError, r"genes lists some genes more than once"),
    "missing_groupby": (
        KeyError,
        r"groupby='condition' is not a column of adata\.obs\. Available columns: 'drug'",
    ),
    "missing_source": (
        KeyError,
        r"source='ctrl' is not a value of adata\.obs\['drug'\]\. Available: .*'control'",
    ),
    "missing_target": (KeyError, r"target 'drug_9' not found in adata\.obs\['drug'\]\. Available:"),
    "negative_support_tol": (ValueError, r"support_tol must be None or a number >= 0"),
    "unknown_penalty": (ValueError, r"Unknown penalty 'ridge'; choose one of 'l1'"),
    "tiny_batch": (ValueError, r"batch_size must be None or an integer >= 2, got 1"),
    "one_cell_target": (ValueError, r"The target group 'lonely' has 1 cell\(s\); at least 2 are needed"),
    "not_a_config": (
        TypeError,
        r"config must be a scsparseot\.core\.TrainConfig for method='sparse_icnn', got dict",
    ),
}


@pytest.mark.parametrize("bad", BAD)  # every kind, each over random data and formats
@settings(SETTINGS, max_examples=10)
@given(data=small_data(), fmt=st.sampled_from(FORMATS), draw=st.data())
def test_bad_input_raises_a_clear_error_and_changes_nothing(data, fmt, bad, draw):
    x, n_source = data
    x = x.copy()
    n_genes = x.shape[1]
    kwargs: dict = {}
    if bad in ("nan", "inf"):
        i = draw.draw(st.integers(0, x.shape[0] - 1), label="row")
        j = draw.draw(st.integers(0, n_genes - 1), label="gene")
        x[i, j] = np.nan if bad == "nan" else draw.draw(st.sampled_from([np.inf, -np.inf]))
    adata = _adata(x, n_source, fmt)
    if bad == "one_cell_target":
        adata.obs["drug"] = adata.obs["drug"].cat.add_categories("lonely")
        adata.obs.iloc[-1, 0] = "lonely"
        kwargs["target"] = "lonely"
    kwargs.update(
        {
            "negative_lam": {"lam": -draw.draw(st.floats(1e-6, 1e6), label="lam")},
            "nan_lam": {"lam": float("nan")},
            "max_genes_too_large": {"max_genes": n_genes + draw.draw(st.integers(0, 3), label="extra")},
            "empty_genes": {"genes": []},
            "missing_gene": {"genes": ["g0", "not_a_gene"]},
            "duplicate_gene": {"genes": ["g1", "g1"]},
            "missing_groupby": {"groupby": "condition"},
            "missing_source": {"source": "ctrl"},
            "missing_target": {"target": "drug_9"},
            "negative_support_tol": {"support_tol": -draw.draw(st.floats(1e-6, 10), label="tol")},
            "unknown_penalty": {"penalty": "ridge"},
            "tiny_batch": {"batch_size": 1},
            "not_a_config": {"config": {"n_iters": 3}},
        }.get(bad, {})
    )
    kwargs.setdefault("config", TINY)
    before = adata.copy()
    error, message = BAD[bad]
    with pytest.raises(error, match=message):
        sso.tl.sparse_ot(adata, lam=kwargs.pop("lam", 1.0), fdr=None, progress=False, **kwargs)
    assert_equal(adata, before)


@SETTINGS
@given(
    n_source=st.integers(4, 30),
    n_target=st.integers(4, 30),
    n_genes=st.integers(2, 8),
    n_targets=st.integers(1, 2),
    fmt=st.sampled_from(FORMATS),
    zero_below=st.floats(-1.0, 1.0),
    constant=st.booleans(),
    lam=st.floats(0.0, 5.0),
    subset=st.booleans(),
    limit=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_valid_input_writes_the_schema(
    n_source, n_target, n_genes, n_targets, fmt, zero_below, constant, lam, subset, limit, seed
):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_source + n_targets * n_target, n_genes)).astype(np.float32)
    x[x < zero_below] = 0.0  # sparse-looking data
    x[n_source:, 0] += 2.0  # every drug moves gene 0
    if constant:
        x[:n_source, -1] = 1.5
    adata = _adata(x, n_source, fmt, n_targets)
    before = adata.copy()
    genes = [f"g{j}" for j in range(0, n_genes, 2)] if subset else None
    n_fitted = len(genes) if genes else n_genes
    max_genes = 0.5 * n_fitted if limit and n_fitted > 1 else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = sso.tl.sparse_ot(
            adata,
            lam=lam,
            genes=genes,
            max_genes=max_genes,
            config=TINY,
            anneal=TINY_ANNEAL,
            fdr=None,
            progress=False,
            copy=True,
        )
    for w in caught:
        assert issubclass(w.category, UserWarning) and OUR_WARNINGS.search(str(w.message)), str(w.message)
    const_fitted = constant and (genes is None or f"g{n_genes - 1}" in genes)
    if const_fitted:
        assert any("constant in the source" in str(w.message) for w in caught)
    assert_equal(adata, before)

    targets = [f"drug_{k + 1}" for k in range(n_targets)]
    source = (adata.obs["drug"] == "control").to_numpy()
    fitted = np.isin(adata.var_names, genes) if genes else np.ones(n_genes, bool)
    res = out.uns["sparse_ot"]
    assert {"params", "summary", "genes", "history", "moves", "maps"} <= set(res)
    assert list(res["summary"].index) == targets
    assert list(res["summary"].columns) == list(SUMMARY_COLUMNS)
    assert list(res["genes"].columns) == list(GENE_COLUMNS)
    assert len(res["genes"]) == n_targets * n_fitted
    support = out.varm["sparse_ot_support"]
    assert support.shape == (n_genes, n_targets)
    assert ((support.to_numpy() >= 0) & (support.to_numpy() <= 1)).all()
    assert (support.to_numpy()[~fitted] == 0).all()
    for t in targets:
        key = f"sparse_ot_displacement_{t}"
        layer = out.layers[key]
        assert sparse.isspmatrix_csr(layer) and layer.dtype == np.float32
        assert layer.shape == adata.shape
        dense = layer.toarray()
        assert np.isfinite(dense).all()
        assert not dense[~source].any() and not dense[:, ~fitted].any()
        response = out.obs[f"sparse_ot_response_{t}"].to_numpy()
        own = (adata.obs["drug"] == t).to_numpy()  # the source rows and the target's own rows are scored
        assert (response[source | own] >= 0).all() and np.isnan(response[~(source | own)]).all()
    table = sso.get.perturbed_genes(out)
    assert set(table.loc[table["selected"], "gene"]) <= set(adata.var_names[fitted])
