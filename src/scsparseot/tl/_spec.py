"""What a target's fit is given (:class:`FitSpec`) and what it returns (:class:`TargetFit`).

Shared by the per-target fit (:mod:`._fit_target`), the run (:mod:`._runner`) and the checkpoints
(:mod:`._checkpoint`); both are picklable, so that they cross executor boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from ..core import AnnealConfig, ConditionalMap, DisplacementSummary, SparseOTMap, TrainConfig

__all__ = ["DEFAULT_FDR", "FitSpec", "TargetFit", "call_level"]

#: level of the calls of maps whose p-values come from their own tests, when ``fdr=None``
DEFAULT_FDR = 0.05


def call_level(fdr: float | None) -> float:
    """The Benjamini–Hochberg level of a map's own tests: ``fdr``, or :data:`DEFAULT_FDR` when ``None``."""
    return DEFAULT_FDR if fdr is None else fdr


@dataclass(frozen=True)
class FitSpec:
    """What every target's fit shares (picklable: sent to executor workers)."""

    penalty: Any
    lam: float | str
    max_genes: float | None
    config: TrainConfig
    anneal: AnnealConfig | None
    support_tol: np.ndarray
    device: str
    n_runs: int = 0
    min_support: float = 0.1
    method: str = "sparse_icnn"
    fdr: float | None = 0.05
    n_null: int = 3
    num_threads: int | None = None


@dataclass(frozen=True)
class TargetFit:
    """What a target's task returns: displacements of the source cells and how they were found.

    ``displacements`` holds the sparsified displacements and per-gene summaries, computed block by
    block over the source cells, so no dense ``n_cells × n_genes`` matrix crosses the executor.
    ``null_design`` says where the p-values come from: ``"matched"`` (control-vs-control maps with
    the real target's size), ``"halves"`` (too few control cells for that: conservative),
    ``"tests"`` (the map's own tests) or ``"none"``.
    """

    displacements: DisplacementSummary
    support_tol: np.ndarray
    lam: float
    seconds: float
    n_iters: int = 0
    converged: bool = True
    diverged: bool = False
    reason: str = "closed_form"
    history: dict[str, np.ndarray] = field(default_factory=dict)
    moves: dict[str, np.ndarray] = field(default_factory=dict)
    map: SparseOTMap | ConditionalMap | None = None
    selection_frequency: np.ndarray | None = None
    null_scores: np.ndarray | None = None
    p_value: np.ndarray | None = None
    responder_fraction: float | None = None
    responder_fraction_se: float | None = None
    null_design: str = "none"
    source_states: np.ndarray | None = None
    target_states: np.ndarray | None = None
