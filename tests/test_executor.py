"""Targets are picklable tasks: an executor gives the same results as fitting in-process."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import scsparseot as sso

from .conftest import FAST


def _layers(adata):
    return {k: v.toarray() for k, v in adata.layers.items()}


def test_thread_executor_matches_sequential(synthetic, fitted):
    with ThreadPoolExecutor(max_workers=2) as ex:
        out = sso.tl.sparse_ot(synthetic, config=FAST, lam=1.0, executor=ex, progress=False, copy=True)
    for k, v in _layers(fitted).items():
        np.testing.assert_array_equal(_layers(out)[k], v)


@pytest.mark.slow
def test_process_executor_matches_sequential(synthetic, fitted):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        out = sso.tl.sparse_ot(
            synthetic, target="drug_2", config=FAST, lam=1.0, executor=ex, progress=False, copy=True
        )
    # workers may use another number of BLAS threads, so compare up to float rounding
    a = sso.get.perturbed_genes(out).set_index("gene")
    b = sso.get.perturbed_genes(fitted, target="drug_2").set_index("gene").loc[a.index]
    np.testing.assert_allclose(a["mean_displacement"], b["mean_displacement"], atol=1e-4)
    assert a["selected"].equals(b["selected"])


def test_dask_executor_matches_sequential(synthetic, fitted):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = sso.tl.sparse_ot(
            synthetic, config=FAST, lam=1.0, executor=client.get_executor(), progress=False, copy=True
        )
    for target in ("drug_1", "drug_2"):
        a = sso.get.perturbed_genes(out, target=target).set_index("gene")
        b = sso.get.perturbed_genes(fitted, target=target).set_index("gene").loc[a.index]
        assert a["selected"].equals(b["selected"])
        np.testing.assert_allclose(a["mean_displacement"], b["mean_displacement"], atol=1e-4)
