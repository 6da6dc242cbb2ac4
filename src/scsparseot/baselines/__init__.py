"""Baseline maps in the same units as the sparse ICNN map (numpy/POT, no AnnData).

The plain ICNN baseline is :func:`scsparseot.core.fit_map` with ``lam=0``.
"""

from .exact import exact_ot_map, soft_threshold, translation_map

__all__ = ["exact_ot_map", "soft_threshold", "translation_map"]
