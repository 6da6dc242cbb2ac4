"""The shared numeric and choice checks: what they accept, and the messages they build."""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np
import pytest

from scsparseot._checks import check_choice, check_int, check_number, is_number, listing


@pytest.mark.parametrize("value", [0, 3, np.int64(5), np.uint8(1)])
def test_check_int_accepts_integers(value):
    assert check_int("n", value, 0) is value


@pytest.mark.parametrize("value", [True, 2.0, "3", -1, None, np.float32(1)])
def test_check_int_rejects(value):
    with pytest.raises(ValueError, match=re.escape(f"n must be an integer >= 0, got {value!r}.")):
        check_int("n", value, 0)


def test_check_int_none_and_wording():
    assert check_int("n", None, 2, none_ok=True) is None
    with pytest.raises(ValueError, match=r"^n must be None or an integer >= 2, got 1\.$"):
        check_int("n", 1, 2, none_ok=True)
    with pytest.raises(ValueError, match=r"^seed must be an integer, got 1\.5\.$"):
        check_int("seed", 1.5)
    with pytest.raises(ValueError, match=r"^k must be a positive integer, got 0\.$"):
        check_int("k", 0, 1, expected="a positive integer")


def test_check_number_bounds_and_finiteness():
    assert check_number("a", np.float32(0.5), low=0) == 0.5
    assert check_number("a", math.inf, low=0, finite=False) == math.inf
    assert check_number("a", None, none_ok=True) is None
    for bad in (math.nan, math.inf, -1, True, "1", None):
        with pytest.raises(ValueError, match=r"^a must be a finite number >= 0, got "):
            check_number("a", bad, low=0)
    with pytest.raises(ValueError, match=r"^a must be a finite number > 0, got 0\.$"):
        check_number("a", 0, low=0, low_open=True)
    with pytest.raises(ValueError, match=r"^a must be None or a number >= 0 \(units\), got nan\.$"):
        check_number("a", math.nan, low=0, finite=False, none_ok=True, expected="a number >= 0 (units)")


def test_check_choice_lists_the_valid_values():
    check_choice("kind", "b", Literal["a", "b"])
    check_choice("kind", "b", ("a", "b"))
    with pytest.raises(ValueError, match=r"^Unknown kind 'c' here; choose one of 'a', 'b'\.$"):
        check_choice("kind", "c", Literal["a", "b"], context=" here")


def test_is_number_and_listing():
    assert [is_number(v) for v in (1, 1.0, np.int8(1), True, None, "1")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert listing([]) == "(none)"
    assert listing(range(3), limit=2) == "'0', '1', … (1 more)"
