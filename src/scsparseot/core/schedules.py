"""Pure ``step -> value`` schedules (learning rate, annealing temperature)."""

from __future__ import annotations

import math

__all__ = ["cosine_decay", "geometric_decay"]


def cosine_decay(step: int, total: int, init: float, final_fraction: float = 0.1) -> float:
    """Cosine decay from ``init`` at step 0 to ``init * final_fraction`` at ``total`` and after.

    Examples
    --------
    >>> cosine_decay(0, 100, 1.0), cosine_decay(50, 100, 1.0, 0.0), cosine_decay(200, 100, 1.0, 0.1)
    (1.0, 0.5, 0.1)
    """
    if total <= 0:
        return init * final_fraction
    t = min(max(step, 0), total) / total
    return init * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * t)))


def geometric_decay(step: int, init: float, rate: float) -> float:
    """``init * rate**step`` (the annealing temperature after ``step`` moves).

    Examples
    --------
    >>> round(geometric_decay(2, 1.0, 0.9), 6)
    0.81
    """
    return init * rate**step
