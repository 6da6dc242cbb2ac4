"""Minimax trainer on tiny data: recovery of a shifted gene, sparsity, determinism, state, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from scsparseot.core import FitResult, Penalty, TrainConfig, Trainer, default_support_tol, fit_map
from scsparseot.core.schedules import cosine_decay

N, D, SHIFT = 200, 5, 3.0
CONFIG = TrainConfig(hidden=(16,), n_iters=150, eval_every=50)
SHORT = TrainConfig(hidden=(16,), n_iters=40, eval_every=20)
HISTORY_KEYS = {"step", "lam", "loss_g", "loss_f", "dim", "err", "spa", "lr"}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny networks: thread start-up dominates, and oversubscribed cores make the fits slow
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source ~ N(0, I); target the same distribution shifted by +3 on gene 0 only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype(np.float32)
    y = rng.normal(size=(N, D)).astype(np.float32)
    y[:, 0] += SHIFT
    return x, y


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _data()


@pytest.fixture(scope="module")
def fit_dense(data) -> FitResult:
    x, y = data
    return fit_map(x, y, lam=0.0, config=CONFIG, seed=0, device="cpu")


@pytest.fixture(scope="module")
def fit_sparse(data) -> FitResult:
    x, y = data
    return fit_map(x, y, lam=0.5, config=CONFIG, seed=0, device="cpu", genes=[f"g{i}" for i in range(D)])


# ------------------------------------------------------------------------------- what is learnt
@pytest.mark.parametrize("which", ["fit_dense", "fit_sparse"])
def test_recovers_shifted_gene(request, data, which):
    res: FitResult = request.getfixturevalue(which)
    x, _ = data
    delta = res.map.displacement(x)
    mean_abs = np.abs(delta).mean(0)
    assert int(mean_abs.argmax()) == 0
    assert abs(float(delta[:, 0].mean()) - SHIFT) < 0.5
    # transported cells sit close to the target cloud: well below SW2(x, y) ≈ |shift|/sqrt(d) = 1.34
    assert res.err < 0.5 * SHIFT / math.sqrt(D)


def test_larger_lambda_gives_sparser_map(fit_dense, fit_sparse, data):
    assert fit_sparse.avg_dim < fit_dense.avg_dim
    x, _ = data
    # the same holds for the returned map on all cells, at the map's own tolerances
    dims = [
        (np.abs(r.map.displacement(x)) > r.map.support_tol).sum(1).mean() for r in (fit_dense, fit_sparse)
    ]
    assert dims[1] < dims[0]
    # and only gene 0 is moved by the sparse map in most cells
    freq = (np.abs(fit_sparse.map.displacement(x)) > fit_sparse.map.support_tol).mean(0)
    assert freq[0] > 0.9
    assert (freq[1:] < 0.5).all()


# --------------------------------------------------------------------------- history and flags
def test_history_keys_and_lengths(fit_sparse):
    h = fit_sparse.history
    assert set(h) == HISTORY_KEYS
    lengths = {len(v) for v in h.values()}
    assert lengths == {CONFIG.n_iters // CONFIG.eval_every}
    np.testing.assert_array_equal(h["step"], [50, 100, 150])
    np.testing.assert_array_equal(h["lam"], [0.5] * 3)
    for v in h.values():
        assert v.dtype == np.float64
        assert np.isfinite(v).all()
    # the recorded learning rate is the cosine schedule at the step it was used (step − 1)
    expected_lr = [cosine_decay(int(s) - 1, CONFIG.n_iters, CONFIG.lr, CONFIG.lr_final) for s in h["step"]]
    np.testing.assert_allclose(h["lr"], expected_lr, rtol=1e-12)
    assert fit_sparse.avg_dim == h["dim"][-1]
    assert fit_sparse.err == h["err"][-1]


def test_fit_result_flags_max_iters(fit_sparse):
    # default min_iters (200) > n_iters, so the fit can only stop on its budget
    assert fit_sparse.reason == "max_iters"
    assert not fit_sparse.converged
    assert not fit_sparse.diverged
    assert fit_sparse.n_iters == CONFIG.n_iters
    assert fit_sparse.lam == 0.5
    assert fit_sparse.moves == {}
    assert fit_sparse.seconds > 0
    assert fit_sparse.map.genes == [f"g{i}" for i in range(D)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit_sparse.lam = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(("min_iters", "expected_steps"), [(0, 10), (30, 30)])
def test_converged_flags(data, min_iters, expected_steps):
    # every evaluation is quiet, so the rule fires at the 2nd evaluation (patience 1) or at min_iters
    x, y = data
    cfg = TrainConfig(
        hidden=(8,),
        n_iters=150,
        eval_every=5,
        patience=1,
        min_delta=10.0,
        dim_delta=100.0,
        min_iters=min_iters,
    )
    res = fit_map(x, y, lam=0.1, config=cfg, device="cpu")
    assert res.converged
    assert not res.diverged
    assert res.reason == "converged"
    assert res.n_iters == expected_steps
    np.testing.assert_array_equal(res.history["step"], np.arange(5, expected_steps + 1, 5))


def test_callback_receives_every_record(data):
    x, y = data
    records = []
    res = fit_map(x, y, lam=0.1, config=SHORT, device="cpu", callback=records.append)
    assert len(records) == len(res.history["step"]) == 2
    for i, rec in enumerate(records):
        assert set(rec) == HISTORY_KEYS
        for k in HISTORY_KEYS:
            assert res.history[k][i] == rec[k]


def test_support_tol_argument(data):
    x, y = data
    huge = fit_map(x, y, lam=0.0, config=SHORT, device="cpu", support_tol=1e6)
    np.testing.assert_array_equal(huge.history["dim"], [0.0, 0.0])
    np.testing.assert_array_equal(huge.map.support_tol, np.full(D, 1e6, dtype=np.float32))
    zero = fit_map(x, y, lam=0.0, config=SHORT, device="cpu", support_tol=np.zeros(D))
    assert zero.history["dim"][-1] > 4.0  # without a tolerance nearly every coordinate moves a bit


# ------------------------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def short_fits(data) -> dict[str, FitResult]:
    x, y = data
    return {
        name: fit_map(x, y, lam=0.5, config=SHORT, seed=seed, device="cpu")
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    }


def test_same_seed_same_fit(short_fits, data):
    a, b = short_fits["a"], short_fits["b"]
    for k in HISTORY_KEYS:
        np.testing.assert_array_equal(a.history[k], b.history[k])
    x, _ = data
    np.testing.assert_array_equal(a.map.transport(x), b.map.transport(x))


def test_different_seed_different_fit(short_fits, data):
    a, c = short_fits["a"], short_fits["c"]
    x, _ = data
    assert not np.array_equal(a.map.transport(x), c.map.transport(x))
    assert not np.array_equal(a.history["loss_g"], c.history["loss_g"])


def test_global_rng_untouched(data):
    x, y = data
    torch.manual_seed(1234)
    np.random.seed(1234)  # noqa: NPY002 (the legacy global state is what must stay untouched)
    torch_before = torch.get_rng_state()
    np_before = np.random.get_state()  # noqa: NPY002
    fit_map(x, y, lam=0.5, config=SHORT, seed=7, device="cpu")
    assert torch.equal(torch.get_rng_state(), torch_before)
    np_after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]


# ------------------------------------------------------------------------------------- state
def test_state_dict_round_trip(data):
    x, y = data
    trainer = Trainer(x, y, lam=0.5, config=SHORT, seed=3, device="cpu")
    trainer.train(10)
    state = trainer.state_dict()
    t_saved = trainer.to_map().transport(x)
    trainer.train(10)
    t_continued = trainer.to_map().transport(x)
    assert not np.array_equal(t_continued, t_saved)
    trainer.load_state_dict(state)
    assert trainer.step == 10
    np.testing.assert_array_equal(trainer.to_map().transport(x), t_saved)
    # networks, optimisers and batch RNG are all restored: resuming repeats the continuation exactly
    trainer.train(10)
    np.testing.assert_array_equal(trainer.to_map().transport(x), t_continued)


def test_state_dict_is_a_copy(data):
    x, y = data
    trainer = Trainer(x, y, lam=0.5, config=SHORT, seed=3, device="cpu")
    state = trainer.state_dict()
    quad_before = state["g"]["quad"].clone()
    trainer.train(5)
    torch.testing.assert_close(state["g"]["quad"], quad_before, rtol=0, atol=0)
    assert state["step"] == 0


def test_to_map_is_independent_of_trainer(data):
    x, y = data
    trainer = Trainer(x, y, lam=0.5, config=SHORT, seed=3, device="cpu")
    m = trainer.to_map()
    before = m.transport(x)
    trainer.train(5)
    np.testing.assert_array_equal(m.transport(x), before)


def test_gaussian_init_is_the_diagonal_gaussian_map(data):
    # before any step the map is the gene-wise Gaussian OT map: T_i(x) = μ_y + (σ_y/σ_x)(x − μ_x)
    x, y = data
    trainer = Trainer(x, y, lam=0.0, config=SHORT, seed=0, device="cpu")
    expected = y.mean(0) + y.std(0, ddof=1) / x.std(0, ddof=1) * (x - x.mean(0))
    np.testing.assert_allclose(trainer.to_map().transport(x), expected, rtol=1e-4, atol=1e-4)
    ident = Trainer(x, y, lam=0.0, config=dataclasses.replace(SHORT, init="identity"), device="cpu")
    np.testing.assert_allclose(ident.to_map().transport(x), x, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- divergence, recovery
class _NanWindow(Penalty):
    """L1 that returns NaN for the calls numbered ``first`` to ``last`` (1-based)."""

    def __init__(self, first: int, last: int) -> None:
        object.__setattr__(self, "window", (first, last))
        object.__setattr__(self, "calls", [0])

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        self.calls[0] += 1
        first, last = self.window
        out = z.abs().sum(-1)
        return out * math.nan if first <= self.calls[0] <= last else out


_DIV_CONFIG = TrainConfig(hidden=(8,), n_iters=20, eval_every=5, max_recoveries=2)


def test_diverged_without_good_state(data):
    # NaN from the first step: the first evaluation is not finite and there is nothing to roll back to
    x, y = data
    res = fit_map(x, y, penalty=_NanWindow(1, 10**9), lam=1.0, config=_DIV_CONFIG, device="cpu")
    assert res.diverged
    assert not res.converged
    assert res.reason == "diverged"
    assert res.n_iters == 5
    assert all(len(v) == 0 for v in res.history.values())
    assert math.isnan(res.avg_dim)
    assert math.isnan(res.err)


def test_recovers_then_gives_up(data):
    # calls 1-10 are the g steps of iterations 1-5, call 11 the evaluation at step 5; NaN afterwards.
    # Each divergence rolls back to step 5 with half the learning rate, until max_recoveries = 2.
    x, y = data
    trainer = Trainer(x, y, penalty=_NanWindow(12, 10**9), lam=1.0, config=_DIV_CONFIG, device="cpu")
    assert trainer.train(100) == "diverged"
    assert trainer.n_recoveries == 2
    assert trainer.lr_scale == 0.25
    assert trainer.step == 10
    np.testing.assert_array_equal(trainer.history_arrays()["step"], [5.0])


def test_recovers_from_transient_nan(data):
    # only the two g steps of iteration 6 produce NaN; after one roll-back training finishes normally
    x, y = data
    trainer = Trainer(x, y, penalty=_NanWindow(12, 13), lam=1.0, config=_DIV_CONFIG, device="cpu")
    assert trainer.train(20) == "steps"
    assert trainer.n_recoveries == 1
    assert trainer.lr_scale == 0.5
    h = trainer.history_arrays()
    np.testing.assert_array_equal(h["step"], [5, 10, 15, 20])
    assert np.isfinite(h["err"]).all()
    c = _DIV_CONFIG
    expected_lr = [cosine_decay(4, c.n_iters, c.lr, c.lr_final)] + [
        0.5 * cosine_decay(s - 1, c.n_iters, c.lr, c.lr_final) for s in (10, 15, 20)
    ]
    np.testing.assert_allclose(h["lr"], expected_lr, rtol=1e-12)


# -------------------------------------------------------------------------------- bad input
def _bad_inputs():
    x, y = _data()
    x_nan = x.copy()
    x_nan[3, 1] = np.nan
    y_inf = y.copy()
    y_inf[0, 0] = np.inf
    return [
        pytest.param(x_nan, y, {}, ValueError, "NaN", id="nan"),
        pytest.param(x, y_inf, {}, ValueError, "NaN or infinite", id="inf"),
        pytest.param(x[:1], y, {}, ValueError, "at least 2 cells", id="one-cell"),
        pytest.param(x, y[:1], {}, ValueError, "at least 2 cells", id="one-target-cell"),
        pytest.param(x[:, :4], y, {}, ValueError, "different numbers of genes", id="genes"),
        pytest.param(x[:, 0], y[:, 0], {}, ValueError, "2-D", id="1-d"),
        pytest.param(x, y, {"lam": -0.1}, ValueError, "lam", id="lam-negative"),
        pytest.param(x, y, {"lam": float("nan")}, ValueError, "lam", id="lam-nan"),
        pytest.param(x, y, {"lam": float("inf")}, ValueError, "lam", id="lam-inf"),
        pytest.param(x, y, {"lam": "x"}, TypeError, "lam", id="lam-str"),
        pytest.param(x, y, {"lam": True}, TypeError, "lam", id="lam-bool"),
        pytest.param(x, y, {"lam": None}, TypeError, "lam", id="lam-none"),
        pytest.param(x, y, {"support_tol": -1.0}, ValueError, "support_tol", id="tol-negative"),
        pytest.param(x, y, {"penalty": "ridge"}, ValueError, "Unknown penalty", id="penalty"),
        pytest.param(x, y, {"device": "tpu"}, ValueError, "device", id="device"),
    ]


@pytest.mark.parametrize(("x", "y", "kwargs", "error", "match"), _bad_inputs())
def test_bad_input(x, y, kwargs, error, match):
    x_before, y_before = x.copy(), y.copy()
    kwargs = {"config": SHORT, "device": "cpu"} | kwargs
    with pytest.raises(error, match=match):
        fit_map(x, y, **kwargs)
    # the caller's arrays are left alone
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)


def test_accepts_numpy_lambda_and_float64(data):
    x, y = data
    trainer = Trainer(x.astype(np.float64), y, lam=np.float32(0.25), config=SHORT, device="cpu")
    assert trainer.lam == 0.25
    assert isinstance(trainer.lam, float)
    assert trainer.x.dtype == torch.float32


# ------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_iters": -1},
        {"n_iters": 1.5},
        {"n_iters": "100"},
        {"min_iters": -1},
        {"g_steps": 0},
        {"eval_every": 0},
        {"eval_size": 1},
        {"patience": 0},
        {"lr": 0.0},
        {"lr": -1e-3},
        {"lr": float("nan")},
        {"lr_final": 1.5},
        {"lr_final": -0.1},
        {"batch_size": 1},
        {"init": "random"},
    ],
)
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match="TrainConfig"):
        TrainConfig(**kwargs)


def test_config_rejects_fractional_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=2.5)  # type: ignore[arg-type]


def test_config_frozen_and_to_dict():
    cfg = TrainConfig(hidden=(4, 4), batch_size=None, n_iters=np.int64(10))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    d = cfg.to_dict()
    assert d["hidden"] == [4, 4]
    assert d["betas"] == [0.5, 0.9]
    assert d["batch_size"] is None
    assert set(d) == {f.name for f in dataclasses.fields(TrainConfig)}


# ---------------------------------------------------------------------------- default tolerance
def test_default_support_tol_per_gene():
    # population sds: gene 0 -> 1, gene 1 -> 2, gene 2 constant, gene 3 -> 4; median of positive sds = 2
    x = np.array([[0.0, 0.0, 5.0, 0.0], [2.0, 4.0, 5.0, 8.0]])
    tol = default_support_tol(x)
    assert tol.dtype == np.float32
    np.testing.assert_allclose(tol, [0.1, 0.2, 0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(default_support_tol(x, fraction=0.5), [0.5, 1.0, 1.0, 2.0], rtol=1e-6)


def test_default_support_tol_all_constant():
    x = np.full((10, 3), 7.0)
    np.testing.assert_allclose(default_support_tol(x), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(default_support_tol(x, fraction=0.3), [0.3, 0.3, 0.3], rtol=1e-6)


def test_default_support_tol_scales_with_data():
    x = np.random.default_rng(0).normal(size=(100, 6))
    np.testing.assert_allclose(default_support_tol(10 * x), 10 * default_support_tol(x), rtol=1e-5)
    np.testing.assert_allclose(default_support_tol(x + 100), default_support_tol(x), rtol=1e-4)


def test_trainer_uses_default_tolerance(data):
    x, y = data
    trainer = Trainer(x, y, config=SHORT, device="cpu")
    np.testing.assert_array_equal(trainer.support_tol, default_support_tol(x))


def test_start_from_fits_both_potentials_to_a_given_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = rng.normal(size=(200, 3)).astype(np.float32)
    # a non-separable gradient map: cells far along u move by up to 1.5 along u, the others stay
    u = np.array([0.6, 0.0, 0.8], dtype=np.float32)
    images = x + 1.5 / (1.0 + np.exp(-4.0 * (x @ u)))[:, None] * u
    trainer = Trainer(x, y, config=TrainConfig(hidden=(32, 32)), device="cpu", seed=0)
    mse = trainer.start_from(images)
    assert mse < 0.01
    np.testing.assert_allclose(trainer.to_map().transport(x), images, atol=0.15)
    assert trainer.g.is_convex() and trainer.f.is_convex()
    # f starts at the inverse: ∇f(images) ≈ x
    back = trainer.f.transport(torch.as_tensor((images - trainer.center) / trainer.scale))
    rms = np.sqrt(np.mean(np.sum((back.numpy() * trainer.scale + trainer.center - x) ** 2, axis=1)))
    assert rms < 0.2
    with pytest.raises(ValueError, match="images must have the source's shape"):
        trainer.start_from(images[:10])


def test_zero_iterations_keep_the_start():
    x, y = _data()
    res = fit_map(x, y, lam=1.0, config=TrainConfig(n_iters=0, hidden=(8,)), device="cpu")
    assert res.n_iters == 0 and res.reason == "max_iters"
