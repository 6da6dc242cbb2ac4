"""Schedules against their closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsparseot.core.schedules import cosine_decay, geometric_decay

_SETTINGS = settings(database=None, deadline=None, max_examples=200)
_inits = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False)
_fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def test_cosine_decay_points():
    assert cosine_decay(0, 100, 2.0, 0.1) == pytest.approx(2.0)
    assert cosine_decay(50, 100, 2.0, 0.0) == pytest.approx(1.0)
    assert cosine_decay(100, 100, 2.0, 0.1) == pytest.approx(0.2)
    # quarter way: cos(π/4) = √2/2
    assert cosine_decay(25, 100, 1.0, 0.0) == pytest.approx(0.5 * (1 + math.sqrt(2) / 2))


@_SETTINGS
@given(
    step=st.integers(min_value=0, max_value=10_000),
    total=st.integers(min_value=1, max_value=10_000),
    init=_inits,
    frac=_fractions,
)
def test_cosine_decay_closed_form(step, total, init, frac):
    t = min(step, total) / total
    expected = init * (frac + (1 - frac) * (1 + math.cos(math.pi * t)) / 2)
    value = cosine_decay(step, total, init, frac)
    assert value == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert init * frac - 1e-12 * init <= value <= init * (1 + 1e-12)


@_SETTINGS
@given(
    step=st.integers(min_value=0, max_value=999),
    total=st.integers(min_value=1, max_value=1000),
    init=_inits,
    frac=_fractions,
)
def test_cosine_decay_non_increasing(step, total, init, frac):
    assert cosine_decay(step + 1, total, init, frac) <= cosine_decay(step, total, init, frac) * (1 + 1e-12)


@_SETTINGS
@given(
    total=st.integers(min_value=1, max_value=1000),
    extra=st.integers(min_value=0, max_value=1000),
    init=_inits,
    frac=_fractions,
)
def test_cosine_decay_clamps_outside_range(total, extra, init, frac):
    assert cosine_decay(total + extra, total, init, frac) == pytest.approx(init * frac, rel=1e-12, abs=1e-15)
    assert cosine_decay(-1 - extra, total, init, frac) == pytest.approx(init, rel=1e-12)


@pytest.mark.parametrize("total", [0, -5])
def test_cosine_decay_degenerate_total(total):
    assert cosine_decay(3, total, 2.0, 0.25) == 0.5


@_SETTINGS
@given(
    step=st.integers(min_value=0, max_value=200),
    init=_inits,
    rate=st.floats(min_value=0.01, max_value=1.0, allow_nan=False),
)
def test_geometric_decay_closed_form(step, init, rate):
    value = geometric_decay(step, init, rate)
    assert value == pytest.approx(init * math.exp(step * math.log(rate)), rel=1e-9, abs=1e-300)
    # one more step multiplies by the rate
    assert geometric_decay(step + 1, init, rate) == pytest.approx(value * rate, rel=1e-12, abs=1e-300)


def test_geometric_decay_points():
    assert geometric_decay(0, 3.0, 0.5) == 3.0
    assert geometric_decay(3, 8.0, 0.5) == 1.0
    assert geometric_decay(2, 1.0, 0.9) == pytest.approx(0.81)
