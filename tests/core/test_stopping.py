"""ConvergenceMonitor: quiet evaluations, patience, divergence, reset and checkpointing."""

from __future__ import annotations

import math

import pytest

from scsparseot.core import ConvergenceMonitor


def _run(monitor: ConvergenceMonitor, errs, dims=None) -> list[tuple[bool, str]]:
    dims = dims if dims is not None else [3.0] * len(errs)
    return [monitor.update(err=e, dim=d) for e, d in zip(errs, dims, strict=True)]


@pytest.mark.parametrize("patience", [1, 2, 4])
def test_converged_after_patience_quiet_evaluations(patience):
    m = ConvergenceMonitor(patience=patience, min_delta=0.01, dim_delta=0.5)
    # the first evaluation only sets the reference; each later one changes err by 0.1 % (quiet)
    errs = [1.0 * 0.999**i for i in range(patience + 1)]
    out = _run(m, errs)
    assert out[:-1] == [(False, "")] * patience
    assert out[-1] == (True, "converged")


def test_loud_change_resets_the_count():
    m = ConvergenceMonitor(patience=2, min_delta=0.01)
    # quiet, loud (10 % change), quiet, quiet
    out = _run(m, [1.0, 0.999, 0.9, 0.8995, 0.899])
    assert [stop for stop, _ in out] == [False, False, False, False, True]


def test_min_delta_is_relative():
    # a change of 0.5 on an error of 100 is 0.5 % -> quiet; on an error of 1 it is 50 % -> loud
    big = ConvergenceMonitor(patience=1, min_delta=0.01)
    assert _run(big, [100.0, 100.5])[-1] == (True, "converged")
    small = ConvergenceMonitor(patience=1, min_delta=0.01)
    assert _run(small, [1.0, 1.5])[-1] == (False, "")


def test_dimension_change_is_loud():
    m = ConvergenceMonitor(patience=1, min_delta=0.01, dim_delta=0.5)
    assert _run(m, [1.0, 1.0], dims=[3.0, 4.0])[-1] == (False, "")  # dim moved by 1 >= 0.5
    assert m.update(err=1.0, dim=4.2) == (True, "converged")  # dim moved by 0.2 < 0.5


def test_zero_error_does_not_divide_by_zero():
    m = ConvergenceMonitor(patience=1)
    assert _run(m, [0.0, 0.0])[-1] == (True, "converged")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["err", "dim", "loss"])
def test_diverged_on_non_finite(bad, field):
    m = ConvergenceMonitor()
    assert m.update(err=1.0, dim=2.0) == (False, "")
    values = {"err": 1.0, "dim": 2.0, "loss": 0.0}
    values[field] = bad
    assert m.update(**values) == (True, "diverged")


def test_diverged_on_first_evaluation():
    assert ConvergenceMonitor().update(err=math.nan, dim=1.0) == (True, "diverged")


def test_reset_forgets_history():
    m = ConvergenceMonitor(patience=2)
    _run(m, [1.0, 1.0])  # one quiet evaluation recorded
    m.reset()
    # after a reset the first evaluation is only a reference again: two more quiet ones are needed
    assert _run(m, [5.0, 5.0, 5.0]) == [(False, ""), (False, ""), (True, "converged")]
