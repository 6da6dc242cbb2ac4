from __future__ import annotations

import anndata as ad
import numpy as np
import pytest

import scsparseot as sso
from scsparseot.core import TrainConfig

# small, fast settings shared by the AnnData-level tests
FAST = TrainConfig(hidden=(32, 32), n_iters=300, eval_every=25, min_iters=100)


@pytest.fixture(scope="session")
def synthetic() -> ad.AnnData:
    """Control + 2 drugs, 4 genes each (2 shared), 3 SD shifts: easy enough to check answers."""
    return sso.datasets.synthetic_perturbation(
        n_cells=150, n_genes=30, n_perturbed=4, intensity=3.0, n_drugs=2, overlap=0.5, seed=1
    )


@pytest.fixture(scope="session")
def _fitted(synthetic: ad.AnnData) -> ad.AnnData:
    return sso.tl.sparse_ot(
        synthetic, groupby="drug", source="control", config=FAST, lam=1.0, progress=False, copy=True
    )


@pytest.fixture
def fitted(_fitted: ad.AnnData) -> ad.AnnData:
    return _fitted.copy()


def true_idx(adata: ad.AnnData, drug: str) -> np.ndarray:
    return adata.var_names.get_indexer(adata.uns["true_genes"][drug])
