"""Warnings that point at the user's line: the first frame outside the package."""

from __future__ import annotations

import inspect
from pathlib import Path

__all__ = ["find_stack_level"]

_PACKAGE = str(Path(__file__).resolve().parent)


def find_stack_level() -> int:
    """``stacklevel`` for :func:`warnings.warn` that names the first caller outside scsparseot.

    Counted at the call, so a warning raised however deep inside the package (behind decorators,
    helpers or the CLI) is reported at the line of the user's code that called into it (as
    pandas' ``find_stack_level``).

    Examples
    --------
    >>> import warnings
    >>> def from_the_package():  # stands for a function of scsparseot
    ...     warnings.warn("careful", UserWarning, stacklevel=find_stack_level())
    >>> find_stack_level() >= 1
    True
    """
    frame = inspect.currentframe()
    level = 0
    try:
        while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
            frame = frame.f_back
            level += 1
    finally:
        del frame
    return level
