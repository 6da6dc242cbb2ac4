"""Baseline maps in the same units as the sparse ICNN map (numpy/POT, no AnnData).

The plain ICNN baseline is :func:`scsparseot.core.fit_map` with ``lam=0``.
"""

from .entropic import elastic_map, stvs_grad, stvs_prox
from .exact import exact_ot_map, soft_threshold, translation_map
from .rgd import rgd_map

__all__ = [
    "elastic_map",
    "exact_ot_map",
    "rgd_map",
    "soft_threshold",
    "stvs_grad",
    "stvs_prox",
    "translation_map",
]
