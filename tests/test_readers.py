"""The CellOT-format readers: files written here in the published layout, read back and checked."""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from anndata.tests.helpers import assert_equal
from scipy import sparse

import scsparseot as sso

MARKERS = ["CD44", "HES1", "MITF", "SOX10", "Ki67", "pERK", "pMEK", "cJUN", "p53", "CyclinB1"]
DRUGS = ["control", "cisplatin", "ixazomib", "melphalan", "sorafenib"]


def fouri_names(n: int = 48) -> list[str]:
    """4i-style feature names: per-compartment marker intensities, then nucleus/cell shape."""
    names = [f"intensity-{c}-{m}-mean" for c in ("cell", "nuclei") for m in MARKERS]
    names += [f"morphology-nuclei-{f}" for f in ("area", "eccentricity", "perimeter", "extent")]
    names += [f"morphology-cell-{f}" for f in ("area", "eccentricity", "perimeter", "extent")]
    names += [f"intensity-cytoplasm-{m}-mean" for m in MARKERS]
    names += [f"intensity-cell-{m}-std" for m in MARKERS[:10]]
    assert len(names) >= n
    return names[:n]


def make_fouri(n_per_group: int = 20, var_names: list[str] | None = None, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    var_names = fouri_names() if var_names is None else var_names
    x = rng.lognormal(0.0, 0.5, (n_per_group * len(DRUGS), len(var_names))).astype(np.float32)
    obs = pd.DataFrame(
        {"drug": pd.Categorical(np.repeat(DRUGS, n_per_group), categories=DRUGS)},
        index=[f"c{i}" for i in range(x.shape[0])],
    )
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=var_names))


def make_sciplex(n_per_group: int = 10, n_genes: int = 30, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    drugs = ["control", "trametinib", "dexamethasone"]
    cells = ["A549", "K562", "MCF7"]
    groups = [(d, c) for c in cells for d in drugs]
    counts = rng.poisson(1.0, (n_per_group * len(groups), n_genes)).astype(np.float32)
    x = sparse.csr_matrix(np.log1p(counts))
    obs = pd.DataFrame(
        {
            "drug": pd.Categorical([d for d, _ in groups for _ in range(n_per_group)]),
            "cell_type": pd.Categorical([c for _, c in groups for _ in range(n_per_group)]),
        },
        index=[f"c{i}" for i in range(x.shape[0])],
    )
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"GENE{i}" for i in range(n_genes)]))


def write(adata: ad.AnnData, tmp_path, name: str = "8h.h5ad"):
    path = tmp_path / name
    adata.write_h5ad(path)
    return path


# ------------------------------------------------------------------------------ 4i


@pytest.mark.parametrize("as_sparse", [False, True])
def test_fouri_round_trip(tmp_path, as_sparse):
    a = make_fouri()
    if as_sparse:
        a.X = sparse.csr_matrix(a.X)
    b = sso.datasets.fouri(write(a, tmp_path))
    assert_equal(a, b)
    assert b.n_vars == 48
    assert set(b.obs["drug"]) == set(DRUGS)


def test_fouri_accepts_str_path_and_feature_file(tmp_path):
    a = make_fouri(var_names=[*fouri_names(48), "x-coordinate", "y-coordinate"])
    path = write(a, tmp_path)
    keep = fouri_names(48)
    (tmp_path / "features.txt").write_text("\n".join(keep) + "\n")
    b = sso.datasets.fouri(str(path), features=tmp_path / "features.txt")
    assert b.var_names.tolist() == keep
    c = sso.datasets.fouri(path, features=keep[:5])
    assert c.var_names.tolist() == keep[:5]
    np.testing.assert_array_equal(c.X, a[:, keep[:5]].X)


def test_fouri_warns_on_non_4i_features(tmp_path):
    a = make_fouri(var_names=[*fouri_names(10), "x-coordinate", "well"])
    with pytest.warns(
        UserWarning, match=r"2 of 12 features are not named like 4i.*'x-coordinate'.*features="
    ):
        b = sso.datasets.fouri(write(a, tmp_path))
    assert b.n_vars == 12


def test_fouri_rejects_non_4i_file(tmp_path):
    path = write(make_sciplex(), tmp_path, "hvg.h5ad")
    with pytest.raises(ValueError, match=r"does not look like 4i.*'GENE0'.*sciplex3"):
        sso.datasets.fouri(path)


def test_fouri_missing_features(tmp_path):
    path = write(make_fouri(), tmp_path)
    with pytest.raises(
        KeyError, match=r"1 requested feature.*'intensity-cell-FOO-mean'.*Features in the file"
    ):
        sso.datasets.fouri(path, features=["intensity-cell-CD44-mean", "intensity-cell-FOO-mean"])
    with pytest.raises(FileNotFoundError, match="No features file"):
        sso.datasets.fouri(path, features=tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="selects no feature"):
        sso.datasets.fouri(path, features=[])


def test_fouri_feeds_sparse_ot(tmp_path):
    a = sso.datasets.fouri(write(make_fouri(n_per_group=40), tmp_path), features=fouri_names(8))
    sso.tl.sparse_ot(a, target="cisplatin", lam=1.0, n_iters=20, support_tol=0.01, progress=False)
    table = sso.get.perturbed_genes(a)
    assert set(table["gene"]) == set(fouri_names(8))


# ------------------------------------------------------------------------------ sci-Plex3


def test_sciplex3_round_trip(tmp_path):
    a = make_sciplex()
    b = sso.datasets.sciplex3(write(a, tmp_path, "hvg.h5ad"))
    assert_equal(a, b)


def test_sciplex3_cell_type(tmp_path):
    path = write(make_sciplex(), tmp_path, "hvg.h5ad")
    b = sso.datasets.sciplex3(path, cell_type="A549")
    assert set(b.obs["cell_type"]) == {"A549"}
    assert b.n_obs == 30
    c = sso.datasets.sciplex3(path, cell_type=["A549", "MCF7"])
    assert set(c.obs["cell_type"]) == {"A549", "MCF7"}
    with pytest.raises(KeyError, match=r"cell_type 'HeLa' not found.*Available: 'A549'"):
        sso.datasets.sciplex3(path, cell_type="HeLa")


def test_sciplex3_missing_cell_type_column(tmp_path):
    a = make_sciplex()
    del a.obs["cell_type"]
    with pytest.raises(KeyError, match=r"no obs\['cell_type'\].*obs columns found: 'drug'"):
        sso.datasets.sciplex3(write(a, tmp_path, "hvg.h5ad"))


def test_sciplex3_no_control_in_selected_cell_type(tmp_path):
    a = make_sciplex()
    a = a[~((a.obs["cell_type"] == "K562") & (a.obs["drug"] == "control")).to_numpy()].copy()
    path = write(a, tmp_path, "hvg.h5ad")
    sso.datasets.sciplex3(path, cell_type="A549")  # fine
    with pytest.raises(ValueError, match=r"\(cell_type K562\) has no 'control' group"):
        sso.datasets.sciplex3(path, cell_type="K562")


# ------------------------------------------------------------------------------ malformed files (both readers)


@pytest.fixture(params=["fouri", "sciplex3"])
def reader(request):
    make = make_fouri if request.param == "fouri" else make_sciplex
    return getattr(sso.datasets, request.param), make


def test_missing_file_names_path(tmp_path, reader):
    read, _ = reader
    path = tmp_path / "data" / "8h.h5ad"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read(path)


def test_directory(tmp_path, reader):
    read, _ = reader
    with pytest.raises(ValueError, match="is a directory"):
        read(tmp_path)


def test_not_h5ad(tmp_path, reader):
    read, _ = reader
    path = tmp_path / "8h.h5ad"
    path.write_text("drug,feature\ncontrol,1.0\n")
    with pytest.raises(ValueError, match=r"could not be read as an \.h5ad"):
        read(path)


def test_bad_path_type(reader):
    read, _ = reader
    with pytest.raises(TypeError, match="file path"):
        read(42)


def test_missing_drug_column(tmp_path, reader):
    read, make = reader
    a = make()
    a.obs = a.obs.rename(columns={"drug": "treatment"})
    path = write(a, tmp_path)
    with pytest.raises(KeyError, match=r"no obs\['drug'\].*found: 'treatment'.*groupby="):
        read(path)
    assert read(path, groupby="treatment").n_obs == a.n_obs


def test_no_control_group(tmp_path, reader):
    read, make = reader
    a = make()
    a.obs["drug"] = a.obs["drug"].cat.rename_categories({"control": "DMSO"})
    path = write(a, tmp_path)
    with pytest.raises(ValueError, match=r"no 'control' group.*found 'DMSO'.*control="):
        read(path)
    assert read(path, control="DMSO").n_obs == a.n_obs


def test_only_control(tmp_path, reader):
    read, make = reader
    a = make()
    a = a[(a.obs["drug"] == "control").to_numpy()].copy()
    with pytest.raises(ValueError, match="only the 'control' group"):
        read(write(a, tmp_path))


def test_missing_labels(tmp_path, reader):
    read, make = reader
    a = make()
    a.obs["drug"] = a.obs["drug"].astype(object)
    a.obs.iloc[:3, a.obs.columns.get_loc("drug")] = np.nan
    with pytest.raises(ValueError, match="3 missing labels"):
        read(write(a, tmp_path))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite(tmp_path, reader, value):
    read, make = reader
    a = make()
    x = a.X.toarray() if sparse.issparse(a.X) else a.X
    x[2, 1] = value
    x[5, 1] = value
    a.X = sparse.csr_matrix(x) if sparse.issparse(a.X) else x
    name = a.var_names[1]
    with pytest.raises(ValueError, match=rf"2 NaN/infinite value\(s\), in 1 feature\(s\): {name} \(2\)"):
        read(write(a, tmp_path))


def test_non_numeric(tmp_path, reader):
    read, make = reader
    a = make()
    a.X = (a.X > 1) if not sparse.issparse(a.X) else (a.X > 1).toarray()
    with pytest.raises(ValueError, match="must hold real numbers, found dtype bool"):
        read(write(a, tmp_path))


def test_integer_matrix_is_fine(tmp_path, reader):
    read, make = reader
    a = make()
    a.X = np.rint(a.X.toarray() if sparse.issparse(a.X) else a.X).astype(np.int32)
    assert read(write(a, tmp_path)).X.dtype == np.int32


def test_duplicated_features(tmp_path, reader):
    read, make = reader
    a = make()
    names = a.var_names.tolist()
    names[1] = names[0]
    a.var_names = names
    path = tmp_path / "dup.h5ad"
    a.write_h5ad(path)
    with (
        pytest.raises(ValueError, match=f"duplicated feature names: '{names[0]}'"),
        pytest.warns(UserWarning, match="not unique"),  # anndata's own, on reading
    ):
        read(path)
