"""The typical gene scale: standard deviations with the constant genes replaced by the median one."""

from __future__ import annotations

import numpy as np

__all__ = ["floored_sd", "median_positive_sd"]


def median_positive_sd(sd: np.ndarray) -> float:
    """Median of the positive standard deviations in ``sd`` (``1.0`` when none is positive).

    Parameters
    ----------
    sd
        Per-gene standard deviations.

    Returns
    -------
    float
        The typical scale of a gene that varies.

    Examples
    --------
    >>> import numpy as np
    >>> median_positive_sd(np.array([0.0, 1.0, 3.0])), median_positive_sd(np.zeros(2))
    (2.0, 1.0)
    """
    positive = sd[sd > 0]
    return float(np.median(positive)) if positive.size else 1.0


def floored_sd(sd: np.ndarray) -> np.ndarray:
    """``sd`` where it is positive, else :func:`median_positive_sd` (so no gene has scale 0).

    Parameters
    ----------
    sd
        Per-gene standard deviations.

    Returns
    -------
    numpy.ndarray
        Positive per-gene scales, same shape as ``sd``.

    Examples
    --------
    >>> import numpy as np
    >>> floored_sd(np.array([0.0, 1.0, 3.0]))
    array([2., 1., 3.])
    """
    return np.where(sd > 0, sd, median_positive_sd(sd))
