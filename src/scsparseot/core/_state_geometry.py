"""Geometry of the cell states: the state embedding, nearest centroids, a state's closed-form move.

Shared by the fit (:mod:`scsparseot.core.conditional`) and the fitted map
(:mod:`scsparseot.core.conditional_map`), which moves new cells the same way.
"""

from __future__ import annotations

import numpy as np

__all__ = ["embed", "nearest", "state_move"]


def nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of each point."""
    return ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1).argmin(1)


def state_move(
    z: np.ndarray, u: np.ndarray, knots: np.ndarray, steps: np.ndarray, offset: float, extra: np.ndarray
) -> np.ndarray:
    """Closed-form displacement of one state's cells ``z`` (z-scores): the move along ``u`` plus ``extra``."""
    out = np.broadcast_to(extra, z.shape).astype(np.float32)
    if np.any(u):
        move = np.interp(z @ u, knots, steps) + offset
        out = out + move[:, None].astype(np.float32) * u[None, :]
    return out


def embed(a: np.ndarray, mean: np.ndarray, components: np.ndarray, block: int = 8192) -> np.ndarray:
    """``(a − mean) @ components.T`` block by block (no full-size temporary)."""
    out = np.empty((a.shape[0], components.shape[0]), dtype=np.float32)
    for start in range(0, a.shape[0], block):
        out[start : start + block] = (a[start : start + block] - mean) @ components.T
    return out
