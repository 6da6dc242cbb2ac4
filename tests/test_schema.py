"""Every output survives write_h5ad / read_h5ad."""

from __future__ import annotations

import anndata as ad
import numpy as np
from anndata.tests.helpers import assert_equal

import scsparseot as sso


def test_h5ad_round_trip(fitted, tmp_path):
    path = tmp_path / "fitted.h5ad"
    fitted.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert_equal(fitted, back)
    # the getters give the same tables, and the stored maps the same transport
    for fn in (sso.get.perturbed_genes, sso.get.summary, sso.get.training_history):
        a, b = fn(fitted), fn(back)
        assert a.equals(b), fn.__name__
    x = fitted.X[(fitted.obs["drug"] == "control").to_numpy()]
    np.testing.assert_array_equal(
        sso.get.map(fitted, target="drug_1").transport(x), sso.get.map(back, target="drug_1").transport(x)
    )


def test_zarr_free_uns_types(fitted):
    """uns holds only h5ad-storable types (no lists of dicts, Series, tuples)."""

    def walk(obj, path):
        if isinstance(obj, dict):
            for k, v in obj.items():
                assert isinstance(k, str), path
                walk(v, f"{path}/{k}")
        else:
            import pandas as pd

            ok = (str, int, float, bool, np.ndarray, np.generic, pd.DataFrame, type(None))
            assert isinstance(obj, ok), f"{path}: {type(obj)}"

    walk(fitted.uns["sparse_ot"], "sparse_ot")
