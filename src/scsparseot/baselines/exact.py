"""Closed-form baselines: the exact-OT barycentric map and the soft-thresholded translation map.

Both work on plain arrays (cells × genes) in data units, like :mod:`scsparseot.core`, so that their
displacements ``T(x) − x`` can be scored with the same metrics as a fitted sparse ICNN map.
"""

from __future__ import annotations

import numpy as np
import ot

from ._checks import check_pair, check_support_tol

__all__ = ["exact_ot_map", "soft_threshold", "translation_map"]

#: Network-simplex iterations per entry of the cost matrix (at least ``_MIN_ITER`` in all). POT's
#: default of 100 000 is too few for a few thousand cells; this bound is never reached in practice.
_ITER_PER_ENTRY = 10
_MIN_ITER = 100_000
_OPTIMAL = 1  # POT's result code of a solved network-simplex problem


def soft_threshold(z: np.ndarray, tol: float | np.ndarray) -> np.ndarray:
    """Soft-thresholding ``sign(z) · max(|z| − tol, 0)``, the proximal operator of ``tol · ‖·‖₁``.

    Parameters
    ----------
    z
        Values to shrink.
    tol
        Non-negative threshold, a scalar or an array broadcastable against ``z``.

    Returns
    -------
    numpy.ndarray
        The shrunk values (entries with ``|z| ≤ tol`` are exactly zero).

    Examples
    --------
    >>> import numpy as np
    >>> soft_threshold(np.array([-3.0, 0.5, 2.0]), 1.0)
    array([-2.,  0.,  1.])
    """
    z = np.asarray(z, dtype=np.float64)
    return np.sign(z) * np.maximum(np.abs(z) - tol, 0.0)


def exact_ot_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Barycentric projection of the exact optimal transport plan from ``x`` to ``y``.

    Solves the discrete OT problem between the uniform measures on the rows of ``x`` and ``y`` with
    the squared Euclidean cost (:func:`ot.emd` on :func:`ot.dist`) and maps each source cell to the
    weighted mean of the target cells it is sent to,
    ``T(x_i) = Σ_j P_ij y_j / Σ_j P_ij``. With as many source as target cells the plan is a
    permutation, so ``T(x_i)`` is the target cell matched to ``x_i``.

    Parameters
    ----------
    x
        Source (control) cells, shape ``(n, n_genes)``.
    y
        Target (treated) cells, shape ``(m, n_genes)``.

    Returns
    -------
    numpy.ndarray
        ``T(x)``, shape ``(n, n_genes)``, float32 (computed in float64). The map is defined only on
        the given source cells; its displacement ``T(x) − x`` is dense, not sparse.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is not a finite 2-D array with at least two cells, or the numbers of genes differ.
    RuntimeError
        If the network-simplex solver does not reach an optimal plan.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> y = x[[2, 0, 1]] + np.array([5.0, 0.0])
    >>> exact_ot_map(x, y)
    array([[5., 0.],
           [6., 0.],
           [5., 1.]], dtype=float32)
    """
    x, y = check_pair(x, y)
    n, m = x.shape[0], y.shape[0]
    a = np.full(n, 1.0 / n)
    b = np.full(m, 1.0 / m)
    cost = ot.dist(x, y, metric="sqeuclidean")
    plan, log = ot.emd(a, b, cost, numItermax=max(_MIN_ITER, _ITER_PER_ENTRY * n * m), log=True)
    if log["result_code"] != _OPTIMAL:
        msg = (
            f"ot.emd did not find an optimal plan ({log['warning']}); check the inputs for extreme "
            "values or rescale them."
        )
        raise RuntimeError(msg)
    mass = plan.sum(1, keepdims=True)
    return (plan @ y / mass).astype(np.float32)


def translation_map(x: np.ndarray, y: np.ndarray, support_tol: float | np.ndarray) -> np.ndarray:
    """The trivial baseline: shift every source cell by the soft-thresholded mean difference.

    ``T(x) = x + S(mean(y) − mean(x), support_tol)`` with ``S`` the soft-thresholding operator
    (:func:`soft_threshold`), so that genes whose mean moves by at most ``support_tol`` do not move
    at all and the others move by their mean shift minus ``support_tol``. On a pure mean shift this is
    nearly the true map; it cannot express responses of a share of cells, variance changes or splits.

    Parameters
    ----------
    x
        Source (control) cells, shape ``(n, n_genes)``.
    y
        Target (treated) cells, shape ``(m, n_genes)``.
    support_tol
        Non-negative threshold in data units, a scalar or one value per gene (shape ``(n_genes,)``),
        e.g. :func:`scsparseot.core.default_support_tol` of ``x``.

    Returns
    -------
    numpy.ndarray
        ``T(x)``, shape ``(n, n_genes)``, float32. Every cell has the same displacement.

    Raises
    ------
    ValueError
        If the inputs are invalid (as in :func:`exact_ot_map`) or ``support_tol`` is negative, not
        finite, or neither a scalar nor of shape ``(n_genes,)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [2.0, 2.0]])
    >>> y = x + np.array([3.0, 0.2])
    >>> translation_map(x, y, support_tol=0.5)
    array([[2.5, 0. ],
           [4.5, 2. ]], dtype=float32)
    """
    x, y = check_pair(x, y)
    tol = check_support_tol(support_tol, x.shape[1])
    shift = soft_threshold(y.mean(0) - x.mean(0), tol)
    return (x + shift).astype(np.float32)
