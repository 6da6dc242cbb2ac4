"""What every target's fit is given (:class:`FitSpec`); each returns a :class:`~scsparseot.core.MapFit`.

Shared by the per-target fit (:mod:`._fit_target`), the run (:mod:`._runner`) and the checkpoints
(:mod:`._checkpoint`); it is picklable, so that it crosses executor boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core import searches_lambda

if TYPE_CHECKING:
    import hashlib

    from ..core import AnnealConfig, ConditionalConfig, TrainConfig

__all__ = ["DEFAULT_FDR", "CellDesign", "FitSpec", "call_level"]

#: level of the calls of maps whose p-values come from their own tests, when ``fdr=None``
DEFAULT_FDR = 0.05


def call_level(fdr: float | None) -> float:
    """The Benjamini–Hochberg level of a map's own tests: ``fdr``, or :data:`DEFAULT_FDR` when ``None``."""
    return DEFAULT_FDR if fdr is None else fdr


@dataclass(frozen=True)
class FitSpec:
    """What every target's fit shares (picklable: sent to executor workers).

    ``config`` is the method's one configuration: a :class:`~scsparseot.core.TrainConfig` for the
    sparse ICNN, a :class:`~scsparseot.core.ConditionalConfig` for the state-conditional map, unused
    by the baselines.
    """

    penalty: Any
    lam: float | str
    max_genes: float | None
    config: TrainConfig | ConditionalConfig
    anneal: AnnealConfig | None
    support_tol: np.ndarray
    device: str
    n_runs: int = 0
    min_support: float = 0.1
    method: str = "sparse_icnn"
    fdr: float | None = 0.05
    n_null: int = 3
    num_threads: int | None = None

    @property
    def searches_lam(self) -> bool:
        """Whether λ is searched (``lam="auto"`` or a ``max_genes`` limit) rather than fixed."""
        return searches_lambda(self.lam, self.max_genes)


@dataclass(frozen=True)
class CellDesign:
    """One target's cell labels (picklable, sent with its cells): states and replicates, as str arrays.

    ``source_states``/``target_states`` are the user's state labels (``state_key``) of the source
    and the target cells, ``source_replicates``/``target_replicates`` their replicates
    (``replicate_key``); ``None`` where not given.
    """

    source_states: np.ndarray | None = None
    target_states: np.ndarray | None = None
    source_replicates: np.ndarray | None = None
    target_replicates: np.ndarray | None = None

    def update_hash(self, h: hashlib._Hash) -> None:
        """Add the labels to a checkpoint fingerprint."""
        for f in fields(self):
            value = getattr(self, f.name)
            h.update(f"{f.name}=".encode())
            if value is not None:
                h.update("\x1f".join(np.asarray(value, dtype=str).tolist()).encode())
