"""Checks of numeric and choice arguments, shared by every layer (numpy only: no AnnData, no torch).

Each check raises a :class:`ValueError` that says what was given and what was expected, in one of
two forms: ``"{name} must be [None or ]{expected}, got {value!r}."`` for numbers and
``"Unknown {name} {value!r}; choose one of 'a', 'b'."`` for choices. :mod:`scsparseot._validation`
re-exports them for the AnnData layer; ``core`` and ``baselines`` import them from here, so that
they do not import AnnData.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, get_args

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["check_choice", "check_int", "check_number", "is_number", "listing"]


def listing(values: Iterable[Any], limit: int = 20) -> str:
    """``values`` as quoted strings for a message, at most ``limit`` of them (``"(none)"`` if empty).

    Examples
    --------
    >>> listing(["a", 1]), listing([]), listing("abc", limit=2)
    ("'a', '1'", '(none)', "'a', 'b', … (1 more)")
    """
    values = [repr(str(v)) for v in values]
    more = f", … ({len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more or "(none)"


def is_number(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy number other than a bool.

    Examples
    --------
    >>> import numpy as np
    >>> is_number(1), is_number(np.float32(0.5)), is_number(True), is_number("1")
    (True, True, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, int | float | np.number)


def _must(name: str, expected: str, value: Any, *, none_ok: bool) -> str:
    return f"{name} must be {'None or ' if none_ok else ''}{expected}, got {value!r}."


def check_int(
    name: str, value: Any, low: int | None = None, *, none_ok: bool = False, expected: str | None = None
) -> Any:
    """Raise a :class:`ValueError` unless ``value`` is an integer (not a bool) ``>= low``.

    Parameters
    ----------
    name
        Argument name for the message (e.g. ``"n_iters"`` or ``"TrainConfig.n_iters"``).
    value
        The value given.
    low
        Smallest valid value (``None``: no bound).
    none_ok
        Whether ``None`` is valid too.
    expected
        Wording of what is expected in the message (default ``"an integer >= {low}"``).

    Returns
    -------
    The value, unchanged.

    Examples
    --------
    >>> check_int("n_iters", 3, 0)
    3
    >>> check_int("batch_size", 1, 2, none_ok=True)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be None or an integer >= 2, got 1.
    >>> check_int("seed", -1, 0, expected="a non-negative integer")
    Traceback (most recent call last):
    ...
    ValueError: seed must be a non-negative integer, got -1.
    """
    if value is None and none_ok:
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or (low is not None and value < low)
    ):
        default = "an integer" if low is None else f"an integer >= {low}"
        raise ValueError(_must(name, expected or default, value, none_ok=none_ok))
    return value


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    low_open: bool = False,
    finite: bool = True,
    none_ok: bool = False,
    expected: str | None = None,
) -> float | None:
    """Raise a :class:`ValueError` unless ``value`` is a number (not a bool) ``>= low`` (``> low``).

    Parameters
    ----------
    name
        Argument name for the message.
    value
        The value given.
    low
        Bound (``None``: none); NaN never satisfies it.
    low_open
        Whether the bound is strict (``value > low``).
    finite
        Whether the value must be finite.
    none_ok
        Whether ``None`` is valid too (and returned as ``None``).
    expected
        Wording of what is expected in the message (default e.g. ``"a finite number >= 0"``).

    Returns
    -------
    ``float(value)``, or ``None``.

    Examples
    --------
    >>> check_number("beta", 2, low=0)
    2.0
    >>> check_number("sigma", 0.0, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be a finite number > 0, got 0.0.
    """
    if value is None and none_ok:
        return None
    ok = (
        is_number(value)
        and (not finite or math.isfinite(value))
        and (low is None or (value > low if low_open else value >= low))
    )
    if not ok:
        if expected is None:
            bound = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
            expected = f"a {'finite ' if finite else ''}number{bound}"
        raise ValueError(_must(name, expected, value, none_ok=none_ok))
    return float(value)


def check_choice(name: str, value: Any, choices: Any, *, context: str = "") -> None:
    """Raise a :class:`ValueError` listing the valid values unless ``value`` is one of ``choices``.

    Parameters
    ----------
    name
        What is chosen, for the message (``"Unknown {name} {value!r}{context}; choose one of ..."``).
    value
        The value given.
    choices
        A ``typing.Literal`` (its values, read with :func:`typing.get_args`) or a sequence.
    context
        Text after the value in the message (e.g. ``" for the elastic map"``).

    Examples
    --------
    >>> from typing import Literal
    >>> check_choice("penalty", "l2", Literal["l1", "stvs"])
    Traceback (most recent call last):
    ...
    ValueError: Unknown penalty 'l2'; choose one of 'l1', 'stvs'.
    """
    valid = get_args(choices) or tuple(choices)
    if value not in valid:
        msg = f"Unknown {name} {value!r}{context}; choose one of {', '.join(map(repr, valid))}."
        raise ValueError(msg)
