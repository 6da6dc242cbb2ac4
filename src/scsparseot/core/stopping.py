"""Convergence decisions for the trainer: small, stateful, unit-tested."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["ConvergenceMonitor"]


@dataclass
class ConvergenceMonitor:
    """Decide when a fit has converged or diverged from its periodic evaluations.

    The fit has converged once, for ``patience`` consecutive evaluations, the error changed by less
    than ``min_delta`` (relative to its scale) and the average displacement dimension by less than
    ``dim_delta`` coordinates. It has diverged as soon as a value is not finite.

    Parameters
    ----------
    patience
        Number of consecutive quiet evaluations needed.
    min_delta
        Relative change of the error below which an evaluation is quiet.
    dim_delta
        Absolute change of the average dimension below which an evaluation is quiet.

    Examples
    --------
    >>> m = ConvergenceMonitor(patience=2, min_delta=0.01)
    >>> [m.update(err=e, dim=3.0)[0] for e in (1.0, 0.5, 0.499, 0.4985)]
    [False, False, False, True]
    """

    patience: int = 3
    min_delta: float = 0.01
    dim_delta: float = 0.5
    _last: tuple[float, float] | None = field(default=None, init=False, repr=False)
    _quiet: int = field(default=0, init=False, repr=False)

    def update(self, *, err: float, dim: float, loss: float = 0.0) -> tuple[bool, str]:
        """Record one evaluation; return ``(stop, reason)``.

        ``reason`` is ``"diverged"``, ``"converged"`` or ``""``.
        """
        if not all(math.isfinite(v) for v in (err, dim, loss)):
            return True, "diverged"
        if self._last is not None:
            last_err, last_dim = self._last
            scale = max(abs(last_err), 1e-12)
            quiet = abs(err - last_err) / scale < self.min_delta and abs(dim - last_dim) < self.dim_delta
            self._quiet = self._quiet + 1 if quiet else 0
        self._last = (err, dim)
        if self._quiet >= self.patience:
            return True, "converged"
        return False, ""

    def reset(self) -> None:
        """Forget all evaluations (after λ changes, say)."""
        self._last = None
        self._quiet = 0
