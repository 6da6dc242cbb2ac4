"""Public signatures follow scanpy's conventions (cf. scanpy's test_package_structure)."""

from __future__ import annotations

import inspect
import re

import anndata as ad
import numpy as np
import pytest

import scsparseot as sso

TL = [sso.tl.sparse_ot]
GET = [
    sso.get.perturbed_genes,
    sso.get.summary,
    sso.get.training_history,
    sso.get.map,
    sso.get.compare,
    sso.get.params,
    sso.get.fit_warnings,
    sso.get.response,
    sso.get.state_genes,
    sso.get.composition,
]
PL = [
    sso.pl.gene_overlap,
    sso.pl.support,
    sso.pl.displacement,
    sso.pl.training,
    sso.pl.transport,
    sso.pl.response,
    sso.pl.state_genes,
]
REPORT = [sso.report.write_report]


@pytest.mark.parametrize("fn", TL + GET + PL + REPORT, ids=lambda f: f.__name__)
def test_adata_first_and_documented(fn):
    params = list(inspect.signature(fn).parameters)
    assert params[0] == "adata"
    doc = inspect.getdoc(fn)
    assert doc
    # numpydoc entries name one parameter, or several that share a description ("n_iters, batch_size")
    entries = {n for line in doc.splitlines() if re.fullmatch(r"\w+(, \w+)*", line) for n in line.split(", ")}
    for name in params[1:]:
        assert name in entries or f"{name}, " in doc, f"{fn.__name__}: {name} undocumented"


@pytest.mark.parametrize("fn", TL, ids=lambda f: f.__name__)
def test_tl_conventions(fn):
    sig = inspect.signature(fn)
    assert sig.parameters["copy"].default is False
    assert sig.parameters["key_added"].kind is inspect.Parameter.KEYWORD_ONLY
    positional = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert [p.name for p in positional] == ["adata", "groupby", "source", "target"]
    assert "Returns" in inspect.getdoc(fn)


def test_public_namespaces_have_all():
    for mod in (sso, sso.tl, sso.get, sso.pl, sso.report, sso.core, sso.datasets, sso.baselines):
        assert hasattr(mod, "__all__")
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"


def test_public_functions_have_examples():
    for fn in (
        sso.tl.sparse_ot,
        sso.get.perturbed_genes,
        sso.get.map,
        sso.datasets.synthetic_perturbation,
        sso.core.fit_map,
    ):
        assert "Examples" in inspect.getdoc(fn), fn.__name__


def test_import_adds_no_handlers_or_filters():
    import logging
    import subprocess
    import sys

    assert all(isinstance(h, logging.NullHandler) for h in logging.getLogger("scsparseot").handlers)
    # in a fresh interpreter (pytest's filterwarnings from pyproject name scsparseot in this one);
    # dependencies may add filters of their own on import, ours must add none
    code = (
        "import warnings; before = list(warnings.filters); import scsparseot, scsparseot.tl, scsparseot.pl; "
        "added = [f for f in warnings.filters if f not in before and 'scsparseot' in str(f)]; assert not added, added"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("fn", PL, ids=lambda f: f.__name__)
def test_pl_conventions(fn):
    sig = inspect.signature(fn)
    for name, default in (("ax", None), ("show", None), ("return_fig", False)):
        assert sig.parameters[name].default is default
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert "Examples" in inspect.getdoc(fn)


def test_shared_doc_text_is_indented():
    doc = inspect.getdoc(sso.get.perturbed_genes)
    assert "adata\n    Annotated data matrix" in doc


@pytest.mark.parametrize("fn", GET + PL + REPORT, ids=lambda f: f.__name__)
def test_key_is_keyword_only(fn):
    # as in scanpy's getters and plots: sc.get.rank_genes_groups_df(adata, group, *, key=...)
    param = inspect.signature(fn).parameters["key"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY
    assert param.default == "sparse_ot"


def test_key_passed_as_target_says_key_is_keyword_only(fitted):
    with pytest.raises(KeyError, match=r"pass key='sparse_ot' \(key is keyword-only\)"):
        sso.get.perturbed_genes(fitted, "sparse_ot")


# the plots that label genes, and how to draw one with a gene list
GENE_PLOTS = {
    sso.pl.displacement: {"target": "drug_1"},
    sso.pl.support: {},
    sso.pl.state_genes: {},
}


@pytest.mark.parametrize("fn", list(GENE_PLOTS), ids=lambda f: f.__name__)
def test_gene_plots_take_gene_symbols(fn):
    sig = inspect.signature(fn)
    assert sig.parameters["gene_symbols"].default is None
    assert sig.parameters["gene_symbols"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.fixture(scope="module")
def conditional() -> ad.AnnData:
    """A default (state-conditional) fit whose var_names are IDs and var["symbol"] holds the names."""
    adata = sso.datasets.synthetic_perturbation(n_cells=150, n_genes=20, n_perturbed=3, intensity=3.0, seed=2)
    planted = adata.var_names.get_indexer(adata.uns["true_genes"]["drug_1"])
    adata.var["symbol"] = [f"SYM{i}" for i in range(adata.n_vars)]
    adata.var_names = [f"ENSG{i:05d}" for i in range(adata.n_vars)]
    adata.uns["true_genes"] = {"drug_1": adata.var_names[planted].to_numpy()}
    sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    return adata


@pytest.mark.parametrize("fn", list(GENE_PLOTS), ids=lambda f: f.__name__)
def test_gene_symbols_label_the_genes(conditional, fn):
    import matplotlib.pyplot as plt

    kw = {k: v for k, v in GENE_PLOTS[fn].items() if k != "target"}
    genes = ["SYM3", "ENSG00001"]  # a symbol and a var_name
    fig = fn(conditional, gene_symbols="symbol", genes=genes, return_fig=True, show=False, **kw)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["SYM3", "SYM1"]
    plt.close(fig)
    fig = fn(conditional, genes=["ENSG00003"], return_fig=True, show=False, **kw)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["ENSG00003"]
    plt.close(fig)
    with pytest.raises(KeyError, match=r"not a column of adata.var"):
        fn(conditional, gene_symbols="nope", genes=genes, show=False, **kw)
    with pytest.raises(KeyError, match=r"SYM99"):
        fn(conditional, gene_symbols="symbol", genes=["SYM99"], show=False, **kw)


def test_one_layer_name_scheme_and_log_fc(conditional):
    assert [k for k in conditional.layers if k.startswith("sparse_ot_")] == ["sparse_ot_displacement_drug_1"]
    # data not marked log-normalised: no fold change on the count scale
    assert sso.get.perturbed_genes(conditional)["log_fc"].isna().all()


def test_log_fc_is_scanpys_logfoldchanges():
    import scanpy as sc

    adata = sso.datasets.synthetic_perturbation(n_cells=150, n_genes=20, n_perturbed=3, intensity=3.0, seed=2)
    adata.X = np.clip(adata.X, 0.0, None)  # non-negative, as log1p values are
    adata.uns["log1p"] = {"base": None}  # as sc.pp.log1p marks log-normalised data
    sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    genes = sso.get.perturbed_genes(adata).set_index("gene")
    sc.tl.rank_genes_groups(adata, "drug", groups=["drug_1"], reference="control", method="t-test")
    ranked = sc.get.rank_genes_groups_df(adata, group="drug_1").set_index("names")
    np.testing.assert_allclose(
        genes["log_fc"], ranked.loc[genes.index, "logfoldchanges"], rtol=1e-4, atol=1e-4
    )
    planted = list(adata.uns["true_genes"]["drug_1"])
    assert genes["log_fc"].notna().all()
    assert (genes.loc[planted, "log_fc"].abs() > 1.0).all()
    # the per-state table computes it the same way
    states = sso.get.state_genes(adata)
    assert states["log_fc"].notna().all()


def test_api_page_lists_every_public_name():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   ([\w.]+)$", page, re.M))
    missing = [
        f"{mod.__name__.removeprefix('scsparseot.')}.{name}"
        for mod in (sso.tl, sso.get, sso.pl, sso.report, sso.datasets, sso.baselines, sso.core)
        for name in mod.__all__
        if f"{mod.__name__.removeprefix('scsparseot.')}.{name}" not in listed
    ]
    assert not missing, f"add to docs/api.md: {missing}"
