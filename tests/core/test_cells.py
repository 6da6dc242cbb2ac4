"""Cell data read in blocks: dense, CSR and lazy sources agree, and the trainer never densifies it all."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from scipy import sparse

from scsparseot.core import (
    CellData,
    CellProfile,
    DenseCells,
    LazyCells,
    SparseCells,
    TrainConfig,
    Trainer,
    as_cells,
    default_support_tol,
    fit_map,
    sliced_wasserstein,
    summarise_displacements,
)
from scsparseot.core import cells as cells_module

CONFIG = TrainConfig(hidden=(16,), n_iters=60, eval_every=20, batch_size=32, eval_size=40)


def _matrix(n: int = 120, d: int = 7, seed: int = 0) -> np.ndarray:
    """Non-negative data with many exact zeros, like log-normalised counts."""
    rng = np.random.default_rng(seed)
    a = rng.gamma(2.0, 1.0, size=(n, d)).astype(np.float32)
    a[rng.random((n, d)) < 0.6] = 0.0
    a[:, 0] += 3.0 * (np.arange(n) % 2)  # a gene that varies a lot
    return a


class Recording:
    """A picklable reader over a CSR matrix that records how many rows each call asks for."""

    def __init__(self, matrix: sparse.csr_matrix) -> None:
        self.matrix = matrix
        self.calls: list[int] = []

    def __call__(self, rows: np.ndarray) -> sparse.csr_matrix:
        assert np.all(np.diff(rows) > 0), "readers get sorted, distinct rows"
        self.calls.append(rows.size)
        return self.matrix[rows]


def _kinds(a: np.ndarray) -> dict[str, CellData]:
    csr = sparse.csr_matrix(a)
    return {"dense": DenseCells(a), "sparse": SparseCells(csr), "lazy": LazyCells(Recording(csr), a.shape)}


@pytest.mark.parametrize("kind", ["dense", "sparse", "lazy"])
def test_sources_agree_with_numpy(kind, monkeypatch):
    monkeypatch.setattr(cells_module, "CHUNK_ELEMENTS", 7 * 25)  # blocks of 25 rows: several blocks
    a = _matrix()
    c = _kinds(a)[kind]
    assert c.shape == a.shape and c.dtype == np.float32
    idx = np.array([5, 3, 3, 119, 0])
    np.testing.assert_array_equal(c.rows(idx), a[idx])
    np.testing.assert_array_equal(c.to_numpy(), a)
    np.testing.assert_array_equal(c.columns(np.array([4, 0])), a[:, [4, 0]])
    np.testing.assert_allclose(c.mean(0), a.mean(0), rtol=1e-6)
    np.testing.assert_allclose(c.var(0), a.var(0), rtol=1e-5)
    np.testing.assert_allclose(c.std(0, dtype=np.float64), a.astype(np.float64).std(0), rtol=1e-12)
    sub = c[np.array([10, 2, 7])]
    np.testing.assert_array_equal(sub.to_numpy(), a[[10, 2, 7]])
    np.testing.assert_array_equal(sub[np.array([2, 0])].rows(np.array([1, 0])), a[[10, 7]])
    mask = np.zeros(a.shape[0], bool)
    mask[[1, 4]] = True
    np.testing.assert_array_equal(c[mask].to_numpy(), a[mask])
    blocks = list(c.chunks())
    assert [s for s, _ in blocks] == list(range(0, a.shape[0], 25))
    prof = c.profile()
    assert prof.n_nonfinite == 0 and prof.max == pytest.approx(a.max()) and not prof.integer


def test_profile_counts_bad_values_without_densifying():
    a = np.array([[0.0, 1.0], [np.nan, 0.0], [0.0, np.inf]], dtype=np.float32)
    csr = sparse.csr_matrix(a)
    assert csr.nnz == 3
    assert SparseCells(csr).profile().n_nonfinite == 2
    assert CellProfile.of_block(a).n_nonfinite == 2
    counts = sparse.csr_matrix(np.array([[0.0, 40.0], [3.0, 0.0]], dtype=np.float32))
    prof = SparseCells(counts).profile()
    assert prof.integer and prof.max == 40.0
    assert SparseCells(-counts).profile().max == 0.0  # the implicit zeros count


def test_sparse_cells_leave_the_callers_matrix_alone():
    m = sparse.csr_matrix((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 2])), shape=(1, 2))
    before = (m.data.copy(), m.indices.copy())
    c = SparseCells(m)
    assert c.to_numpy().tolist() == [[0.0, 3.0]]
    np.testing.assert_array_equal(m.data, before[0])
    np.testing.assert_array_equal(m.indices, before[1])


def test_lazy_cells_pickle_and_bad_readers():
    a = _matrix()
    c = LazyCells(Recording(sparse.csr_matrix(a)), a.shape)[np.arange(0, 120, 3)]
    back = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(back.to_numpy(), a[::3])
    wrong = LazyCells(lambda rows: np.zeros((rows.size, 3)), (4, 2))
    with pytest.raises(ValueError, match="reader returned shape"):
        wrong.rows(np.array([0, 1]))
    with pytest.raises(IndexError, match="out of range"):
        as_cells(a)[np.array([500])]


def test_default_support_tol_is_the_same_for_every_source():
    a = _matrix()
    expected = default_support_tol(a)
    for c in _kinds(a).values():
        np.testing.assert_allclose(default_support_tol(c), expected, rtol=1e-6)
    np.testing.assert_allclose(default_support_tol(sparse.csr_matrix(a)), expected, rtol=1e-6)


def _map_and_data():
    x = _matrix(seed=2)
    y = _matrix(seed=3)
    y[:, 1] += 2.0
    res = fit_map(x, y, lam=0.5, config=CONFIG, device="cpu", seed=1)
    return res.map, x, y


def test_summary_in_blocks_equals_whole_matrix(monkeypatch):
    m, x, y = _map_and_data()
    delta = m.displacement(x)
    tol = m.support_tol
    moved = np.abs(delta) > tol
    kept = np.where(moved, delta, 0.0)
    one = summarise_displacements(x, m, tol, y=y, max_points=50)
    monkeypatch.setattr(cells_module, "CHUNK_ELEMENTS", 7 * 16)
    many = summarise_displacements(SparseCells(sparse.csr_matrix(x)), m, tol, y=y, max_points=50)
    for s in (one, many):
        np.testing.assert_allclose(s.kept.toarray(), kept, atol=1e-6)
        np.testing.assert_allclose(s.mean, delta.mean(0), atol=1e-6)
        np.testing.assert_allclose(s.mean_abs, np.abs(delta).mean(0), atol=1e-6)
        np.testing.assert_allclose(s.response, np.linalg.norm(kept, axis=1), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(s.support, moved.mean(0))
        assert s.avg_dim == pytest.approx(moved.sum(1).mean())
        # the rows gathered block by block are the rows sliced_wasserstein subsamples
        assert s.sliced_w == pytest.approx(
            sliced_wasserstein(x + delta, y, n_projections=200, max_points=50, seed=0), rel=1e-5
        )
    assert one.kept.dtype == np.float32 and one.response.dtype == np.float32


def test_map_transports_sparse_and_lazy_cells(monkeypatch):
    m, x, _ = _map_and_data()
    monkeypatch.setattr(cells_module, "CHUNK_ELEMENTS", 7 * 30)
    for c in _kinds(x).values():
        np.testing.assert_allclose(m.transport(c), m.transport(x), atol=1e-5)
        np.testing.assert_allclose(
            m.displacement(c, sparsify=True), m.displacement(x, sparsify=True), atol=1e-5
        )
    np.testing.assert_allclose(m.transport(sparse.csr_matrix(x)), m.transport(x), atol=1e-5)
    with pytest.raises(ValueError, match="genes"):
        m.transport(sparse.csr_matrix(np.zeros((2, 3))))


def test_trainer_reads_only_batches(monkeypatch):
    """A lazy source is read in mini-batches, evaluation cells and blocks; never all at once."""
    monkeypatch.setattr(cells_module, "CHUNK_ELEMENTS", 7 * 20)
    x, y = _matrix(seed=4), _matrix(seed=5)
    rx, ry = Recording(sparse.csr_matrix(x)), Recording(sparse.csr_matrix(y))
    res = fit_map(LazyCells(rx, x.shape), LazyCells(ry, y.shape), lam=0.5, config=CONFIG, device="cpu")
    summarise_displacements(LazyCells(rx, x.shape), res.map, res.map.support_tol, y=LazyCells(ry, y.shape))
    largest = max(CONFIG.batch_size, CONFIG.eval_size, 20)
    assert rx.calls and ry.calls
    assert max(rx.calls + ry.calls) <= largest < x.shape[0]
    trainer = Trainer(LazyCells(rx, x.shape), LazyCells(ry, y.shape), config=CONFIG, device="cpu")
    assert not trainer.x.resident and trainer.x.dtype == torch.float32
    assert trainer._draw(trainer.x).dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in trainer.g.parameters())


def test_sparse_fit_is_close_to_dense_fit():
    x, y = _matrix(seed=6), _matrix(seed=7)
    y[:, 2] += 2.5
    dense = fit_map(x, y, lam=0.5, config=CONFIG, device="cpu", seed=3)
    lazy = fit_map(sparse.csr_matrix(x), sparse.csr_matrix(y), lam=0.5, config=CONFIG, device="cpu", seed=3)
    np.testing.assert_allclose(lazy.map.center, dense.map.center, rtol=1e-6)
    np.testing.assert_allclose(lazy.map.support_tol, dense.map.support_tol, rtol=1e-6)
    np.testing.assert_allclose(lazy.map.displacement(x), dense.map.displacement(x), atol=1e-2)
    assert int(np.abs(lazy.map.displacement(x)).mean(0).argmax()) == 2


def test_trainer_rejects_bad_sparse_input():
    bad = sparse.csr_matrix(np.array([[np.nan, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32))
    ok = sparse.csr_matrix(np.eye(3, 2, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_map(bad, ok, config=CONFIG, device="cpu")
    with pytest.raises(ValueError, match="at least 2 cells"):
        fit_map(ok[:1], ok, config=CONFIG, device="cpu")
    with pytest.raises(ValueError, match="different numbers of genes"):
        fit_map(ok, sparse.csr_matrix(np.eye(3, dtype=np.float32)), config=CONFIG, device="cpu")
