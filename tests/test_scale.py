"""Large data: sparse and backed AnnData are fitted without densifying the whole matrix."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from anndata.tests.helpers import assert_equal
from scipy import sparse

import scsparseot as sso
from scsparseot.core import cells as cells_module

from .conftest import FAST

KW = {"config": FAST, "lam": 1.0, "progress": False}


@pytest.fixture(scope="module")
def zeroed(synthetic) -> ad.AnnData:
    """Control and one drug, with the low values set to zero so that a CSR matrix is really sparse."""
    a = synthetic[synthetic.obs["drug"].isin(["control", "drug_1"])].copy()
    a.X = np.where(a.X < 1.5, 0.0, a.X).astype(np.float32)
    return a


@pytest.fixture(scope="module")
def csr(zeroed) -> ad.AnnData:
    out = zeroed.copy()
    out.X = sparse.csr_matrix(out.X)
    return out


@pytest.fixture(scope="module")
def fitted_dense(zeroed) -> ad.AnnData:
    return sso.tl.sparse_ot(zeroed, copy=True, **KW)


@pytest.fixture(scope="module")
def fitted_csr(csr) -> ad.AnnData:
    return sso.tl.sparse_ot(csr, copy=True, **KW)


def _selected(adata: ad.AnnData) -> list[str]:
    table = sso.get.perturbed_genes(adata)
    return sorted(table.loc[table["selected"], "gene"])


@pytest.mark.parametrize("fitted", ["fitted_dense", "fitted_csr"])
def test_planted_genes_are_found(fitted, zeroed, request):
    """The map selects the 4 planted genes of drug_1 (3-SD shifts): an empty selection fails.

    With these settings both paths select exactly the planted genes (precision = recall = 1, the
    planted genes move by 2.5 to 4.4 and the others by < 0.01); the thresholds allow one miss.
    """
    selected = set(_selected(request.getfixturevalue(fitted)))
    truth = {str(g) for g in zeroed.uns["true_genes"]["drug_1"]}
    hits = len(selected & truth)
    assert selected, "no gene was selected"
    assert hits / len(selected) >= 0.9, f"precision: selected {sorted(selected)}, planted {sorted(truth)}"
    assert hits / len(truth) >= 0.75, f"recall: selected {sorted(selected)}, planted {sorted(truth)}"


def test_sparse_input_matches_dense(fitted_dense, fitted_csr, zeroed):
    assert sparse.issparse(fitted_csr.X)
    assert _selected(fitted_csr) == _selected(fitted_dense)
    assert _selected(fitted_csr), "an empty selection would match trivially"
    assert set(_selected(fitted_csr)) <= set(zeroed.uns["true_genes"]["drug_1"])
    key = "sparse_ot_displacement_drug_1"
    # float64 streamed statistics instead of float32 numpy ones: close, not bitwise equal
    np.testing.assert_allclose(
        fitted_csr.layers[key].toarray(), fitted_dense.layers[key].toarray(), atol=2e-2
    )
    a = sso.get.perturbed_genes(fitted_csr).set_index("gene")
    b = sso.get.perturbed_genes(fitted_dense).set_index("gene").loc[a.index]
    np.testing.assert_allclose(a["mean_displacement"], b["mean_displacement"], atol=1e-2)
    np.testing.assert_allclose(a["support_fraction"], b["support_fraction"], atol=0.05)


def test_csc_and_layers_are_read_sparse(csr, fitted_csr):
    adata = csr.copy()
    adata.layers["lognorm"] = sparse.csc_matrix(adata.X)
    adata.X = sparse.csr_matrix(adata.shape, dtype=np.float32)
    sso.tl.sparse_ot(adata, layer="lognorm", **KW)
    assert _selected(adata) == _selected(fitted_csr)


def test_never_densifies_the_whole_matrix(csr, monkeypatch):
    """Every densification of the CSR data covers at most a batch, the evaluation cells or a block."""
    shapes = []
    real = sparse.csr_matrix.toarray

    def recording(self, *args, **kwargs):
        shapes.append(self.shape)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(sparse.csr_matrix, "toarray", recording)
    monkeypatch.setattr(cells_module, "CHUNK_ELEMENTS", csr.n_vars * 40)  # blocks of 40 cells
    config = FAST.__class__(**{**FAST.to_dict(), "hidden": (32, 32), "batch_size": 32, "eval_size": 50})
    out = sso.tl.sparse_ot(csr, config=config, lam=1.0, progress=False, copy=True)
    n_source = int((csr.obs["drug"] == "control").sum())
    all_genes = [s for s in shapes if s[1] == csr.n_vars]
    assert all_genes, "the sparse path was not used"
    assert max(s[0] for s in all_genes) <= 50 < n_source
    assert "sparse_ot_displacement_drug_1" in out.layers


@pytest.mark.parametrize("storage", ["csr", "dense"])
def test_backed_h5ad(csr, fitted_csr, tmp_path, storage):
    path = tmp_path / "cells.h5ad"
    on_disk = csr.copy()
    if storage == "dense":
        on_disk.X = on_disk.X.toarray()
    on_disk.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    assert backed.isbacked
    sso.tl.sparse_ot(backed, **KW)
    assert backed.isbacked  # nothing was loaded into memory for good
    key = "sparse_ot_displacement_drug_1"
    np.testing.assert_allclose(backed.layers[key].toarray(), fitted_csr.layers[key].toarray(), atol=1e-5)
    assert _selected(backed) == _selected(fitted_csr)
    # the results survive a round trip through h5ad
    backed.write_h5ad(tmp_path / "out.h5ad")
    back = ad.read_h5ad(tmp_path / "out.h5ad")
    assert_equal(back.uns["sparse_ot"], backed.uns["sparse_ot"])
    np.testing.assert_array_equal(back.layers[key].toarray(), backed.layers[key].toarray())
    assert _selected(back) == _selected(fitted_csr)
    assert sso.get.map(back).n_genes == csr.n_vars


def test_backed_errors_leave_adata_unchanged(csr, tmp_path):
    bad = csr.copy()
    x = bad.X.tolil()
    x[int(np.flatnonzero(bad.obs["drug"] == "drug_1")[0]), 3] = np.inf
    bad.X = x.tocsr()
    bad.write_h5ad(tmp_path / "bad.h5ad")
    backed = ad.read_h5ad(tmp_path / "bad.h5ad", backed="r")
    before = backed.to_memory()
    with pytest.raises(ValueError, match=r"target \('drug_1'\).*NaN/infinite"):
        sso.tl.sparse_ot(backed, **KW)
    with pytest.raises(ValueError, match="copy=True"):
        sso.tl.sparse_ot(backed, copy=True, **KW)
    with pytest.raises(KeyError, match="genes not found"):
        sso.tl.sparse_ot(backed, genes=["nope"], **KW)
    assert_equal(backed.to_memory(), before)


def test_backed_subset_of_genes(csr, fitted_csr, tmp_path):
    csr.write_h5ad(tmp_path / "cells.h5ad")
    backed = ad.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    genes = list(csr.var_names[::2])
    sso.tl.sparse_ot(backed, genes=genes, **KW)
    inmem = sso.tl.sparse_ot(csr, genes=genes, copy=True, **KW)
    key = "sparse_ot_displacement_drug_1"
    np.testing.assert_allclose(backed.layers[key].toarray(), inmem.layers[key].toarray(), atol=1e-5)
    assert backed.layers[key][:, 1::2].nnz == 0


def test_cli_fit_backed(csr, tmp_path, capsys):
    from scsparseot import cli

    csr.write_h5ad(tmp_path / "in.h5ad")
    args = ["fit", str(tmp_path / "in.h5ad"), "--out", str(tmp_path / "out.h5ad"), "--backed"]
    assert cli.main([*args, "--lam", "1", "--n-iters", "50"]) == 0
    out = ad.read_h5ad(tmp_path / "out.h5ad")
    assert "sparse_ot_displacement_drug_1" in out.layers
    assert sparse.issparse(out.X) and out.X.nnz == csr.X.nnz
    assert "Wrote" in capsys.readouterr().out
