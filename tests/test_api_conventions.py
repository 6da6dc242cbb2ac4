"""Public signatures follow scanpy's conventions (cf. scanpy's test_package_structure)."""

from __future__ import annotations

import inspect
import re

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
