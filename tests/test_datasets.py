from __future__ import annotations

import numpy as np
import pytest

import scsparseot as sso


def test_shapes_labels_truth():
    a = sso.datasets.synthetic_perturbation(
        n_cells=50, n_genes=40, n_perturbed=6, n_drugs=3, overlap=0.5, seed=2
    )
    assert a.shape == (200, 40)
    assert list(a.obs["drug"].cat.categories) == ["control", "drug_1", "drug_2", "drug_3"]
    sets = [set(a.uns["true_genes"][f"drug_{k}"]) for k in (1, 2, 3)]
    assert all(len(s) == 6 for s in sets)
    shared = set.intersection(*sets)
    assert len(shared) == 3  # overlap 0.5 of 6
    assert a.X.dtype == np.float32


def test_seeded():
    a = sso.datasets.synthetic_perturbation(n_cells=20, n_genes=10, n_perturbed=2, seed=5)
    b = sso.datasets.synthetic_perturbation(n_cells=20, n_genes=10, n_perturbed=2, seed=5)
    c = sso.datasets.synthetic_perturbation(n_cells=20, n_genes=10, n_perturbed=2, seed=6)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)


def test_shift_moves_only_true_genes():
    a = sso.datasets.synthetic_perturbation(n_cells=4000, n_genes=30, n_perturbed=5, intensity=2.0, seed=0)
    ctrl = a.X[(a.obs["drug"] == "control").to_numpy()]
    trt = a.X[(a.obs["drug"] == "drug_1").to_numpy()]
    diff = np.abs(trt.mean(0) - ctrl.mean(0)) / ctrl.std(0)
    truth = a.var_names.get_indexer(a.uns["true_genes"]["drug_1"])
    assert np.all(np.abs(diff[truth] - 2.0) < 0.15)
    assert np.all(np.delete(diff, truth) < 0.1)


@pytest.mark.parametrize("effect", ["variance", "bimodal"])
def test_mean_preserving_effects(effect):
    a = sso.datasets.synthetic_perturbation(
        n_cells=4000, n_genes=20, n_perturbed=4, intensity=1.0, effect=effect, seed=0
    )
    ctrl = a.X[(a.obs["drug"] == "control").to_numpy()]
    trt = a.X[(a.obs["drug"] == "drug_1").to_numpy()]
    truth = a.var_names.get_indexer(a.uns["true_genes"]["drug_1"])
    assert np.all(np.abs(trt.mean(0) - ctrl.mean(0))[truth] / ctrl.std(0)[truth] < 0.1)
    assert np.all(trt.std(0)[truth] > 1.3 * ctrl.std(0)[truth])


def test_response_fraction():
    a = sso.datasets.synthetic_perturbation(
        n_cells=100, n_genes=10, n_perturbed=2, response_fraction=0.3, seed=0
    )
    assert a.obs.loc[a.obs["drug"] == "drug_1", "responder"].sum() == 30
    assert not a.obs.loc[a.obs["drug"] == "control", "responder"].any()


def test_paper_kind_is_paired():
    a = sso.datasets.synthetic_perturbation(n_cells=30, n_genes=100, n_perturbed=5, kind="paper", seed=42)
    ctrl = a.X[(a.obs["drug"] == "control").to_numpy()]
    trt = a.X[(a.obs["drug"] == "drug_1").to_numpy()]
    moved = (np.abs(trt - ctrl) > 1e-6).any(0)
    assert moved.sum() == 5 + 15  # the big genes and 3x as many small ones
    truth = a.var_names.get_indexer(a.uns["true_genes"]["drug_1"])
    assert (trt - ctrl)[:, truth].max() > 50


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "poisson"}, "kind='poisson'"),
        ({"effect": "flip"}, "effect='flip'"),
        ({"n_genes": 5, "n_perturbed": 10}, "need"),
        ({"response_fraction": 1.5}, r"\[0, 1\]"),
        ({"n_cells": 0}, "n_cells"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sso.datasets.synthetic_perturbation(**kwargs)
