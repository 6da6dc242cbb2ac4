"""Rebuild a stored map of either kind from its arrays."""

from __future__ import annotations

import json
from collections.abc import Mapping  # noqa: TC003 (resolved at run time by the docs' type hints)

import numpy as np

from .conditional_map import ConditionalMap
from .map import SparseOTMap

__all__ = ["map_from_arrays"]


def map_from_arrays(arrays: Mapping[str, np.ndarray]) -> SparseOTMap | ConditionalMap:
    """Rebuild a map written by ``to_arrays`` of either kind (:class:`SparseOTMap` or :class:`~scsparseot.core.ConditionalMap`).

    Examples
    --------
    >>> import numpy as np
    >>> from scsparseot.core import ICNN, SparseOTMap, map_from_arrays
    >>> m = SparseOTMap(ICNN(3, hidden=(4,)), center=np.zeros(3), scale=1.0, support_tol=0.1)
    >>> type(map_from_arrays(m.to_arrays())).__name__
    'SparseOTMap'
    """
    config = json.loads(str(np.asarray(arrays["config"])))
    if config.get("kind") == ConditionalMap.kind:
        return ConditionalMap.from_arrays(arrays)
    return SparseOTMap.from_arrays(arrays)
