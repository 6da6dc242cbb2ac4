"""SparseOTMap: data-unit transport, displacement, sparsification, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scsparseot.core import ICNN, SparseOTMap

DIM = 4


def _potential(seed: int = 0, hidden=(8, 6)) -> ICNN:
    """A convex, non-trivial potential (random weights, projected), built without the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = ICNN(DIM, hidden=hidden)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in g.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    g.project()
    return g


def _map(seed: int = 0, **kwargs) -> SparseOTMap:
    defaults = {
        "center": np.array([1.0, -2.0, 0.5, 3.0]),
        "scale": 2.5,
        "support_tol": np.array([0.1, 0.2, 0.3, 0.4]),
        "genes": ["a", "b", "c", "d"],
    }
    defaults.update(kwargs)
    return SparseOTMap(_potential(seed), **defaults)


def _x(n: int = 30, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32) * 2 + 1


def test_transport_and_displacement_shapes():
    m = _map()
    x = _x(17)
    tx = m.transport(x)
    d = m.displacement(x)
    assert tx.shape == d.shape == (17, DIM)
    assert tx.dtype == d.dtype == np.float32
    np.testing.assert_allclose(d, tx - x, rtol=0, atol=1e-6)
    assert np.abs(d).max() > 1e-2  # the random potential does move the cells


def test_transport_in_data_units_closed_form():
    # with h switched off ∇g(u) = a ⊙ u + b in standardised units u = (x − c)/s, so in data units
    # T(x) = s (a ⊙ (x − c)/s + b) + c = a ⊙ (x − c) + s b + c
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = ICNN(DIM, hidden=(5,))
    a = np.array([2.0, 0.5, 1.0, 1.5], dtype=np.float32)
    b = np.array([0.1, -0.2, 0.0, 1.0], dtype=np.float32)
    g.set_diagonal_map(torch.as_tensor(a), torch.as_tensor(b))
    c = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    s = 2.5
    m = SparseOTMap(g, center=c, scale=s, support_tol=0.1)
    x = _x(20)
    np.testing.assert_allclose(m.transport(x), a * (x - c) + s * b + c, rtol=1e-5, atol=1e-5)


def test_identity_potential_gives_zero_displacement():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = ICNN(DIM, hidden=(5,))
    m = SparseOTMap(g, center=np.full(DIM, 3.0), scale=7.0, support_tol=0.0)
    x = _x(10)
    np.testing.assert_allclose(m.displacement(x), 0.0, atol=1e-5)


def test_batches_do_not_change_the_result():
    m = _map()
    x = _x(23)
    np.testing.assert_allclose(m.transport(x, batch_size=5), m.transport(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        m.displacement(x, batch_size=1), m.displacement(x, batch_size=1000), rtol=1e-6, atol=1e-6
    )


def test_sparsify_zeroes_small_entries_per_gene():
    m = _map()
    x = _x(200)
    dense = m.displacement(x)
    sparse = m.displacement(x, sparsify=True)
    small = np.abs(dense) <= m.support_tol
    assert small.any()
    assert (~small).any()
    assert (sparse[small] == 0).all()
    np.testing.assert_array_equal(sparse[~small], dense[~small])


def test_scalar_support_tol_broadcasts():
    m = _map(support_tol=0.25)
    np.testing.assert_array_equal(m.support_tol, np.full(DIM, 0.25, dtype=np.float32))


@pytest.mark.parametrize("shape", [(5, DIM + 1), (5, DIM - 1), (DIM,), (2, 2, DIM)])
def test_wrong_input_shape(shape):
    m = _map()
    with pytest.raises(ValueError, match=f"shape \\(n_cells, {DIM}\\)"):
        m.transport(np.zeros(shape))
    with pytest.raises(ValueError):
        m.displacement(np.zeros(shape))


def test_wrong_center_shape():
    with pytest.raises(ValueError, match="center"):
        SparseOTMap(_potential(), center=np.zeros(DIM + 1), scale=1.0, support_tol=0.1)


def test_properties_and_repr():
    m = _map()
    assert m.n_genes == DIM
    assert m.device == torch.device("cpu")
    assert m.to("cpu") is m
    assert "n_genes=4" in repr(m)
    assert not m.potential.training


def test_save_load_round_trip(tmp_path):
    m = _map(seed=3)
    path = m.save(tmp_path / "mymap")
    assert path == tmp_path / "mymap.npz"
    assert path.exists()
    loaded = SparseOTMap.load(path)
    x = _x(50, seed=1)
    np.testing.assert_array_equal(loaded.transport(x), m.transport(x))
    np.testing.assert_array_equal(loaded.displacement(x, sparsify=True), m.displacement(x, sparsify=True))
    np.testing.assert_array_equal(loaded.center, m.center)
    np.testing.assert_array_equal(loaded.support_tol, m.support_tol)
    assert loaded.scale == m.scale
    assert loaded.genes == ["a", "b", "c", "d"]
    assert loaded.potential.hidden == m.potential.hidden
    assert loaded.potential.activation == m.potential.activation


def test_save_keeps_npz_suffix_and_no_genes(tmp_path):
    m = _map(genes=None)
    path = m.save(tmp_path / "m.npz")
    assert path == tmp_path / "m.npz"
    assert SparseOTMap.load(str(path)).genes is None


def test_saved_file_has_no_pickles(tmp_path):
    path = _map().save(tmp_path / "m")
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
        config = json.loads(str(data["config"]))
    assert config["format_version"] == 1
    assert config["dim"] == DIM
    assert config["hidden"] == [8, 6]


def test_to_arrays_from_arrays_round_trip():
    m = _map(seed=5)
    m2 = SparseOTMap.from_arrays(m.to_arrays())
    x = _x(10)
    np.testing.assert_array_equal(m2.transport(x), m.transport(x))


@pytest.mark.parametrize("version", [0, 2, None, "1"])
def test_load_wrong_format_version(tmp_path, version):
    arrays = _map().to_arrays()
    config = json.loads(str(arrays["config"]))
    config["format_version"] = version
    arrays["config"] = np.array(json.dumps(config))
    path = tmp_path / "old.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="format version"):
        SparseOTMap.load(path)
