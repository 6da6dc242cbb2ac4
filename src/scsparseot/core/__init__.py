"""Pure torch/numpy core: ICNN potentials, penalties, trainer, metrics. No AnnData here."""

from ._cell_profile import CellProfile
from ._cell_sources import DenseCells, LazyCells, SparseCells, as_cells
from ._device import named_seed, resolve_device
from .annealing import AnnealConfig, anneal_lambda, constrain_dimension, searches_lambda
from .calibration import benjamini_hochberg, empirical_pvalues, gene_scores, null_scores, null_split_sizes
from .cells import CellData
from .composition import composition_test
from .conditional import ConditionalFit, ConditionalMap, fit_conditional
from .conditional_config import ConditionalConfig
from .fit import fit_map
from .icnn import ICNN
from .map import SparseOTMap
from .map_arrays import map_from_arrays
from .metrics import (
    displacement_dim,
    precision_at_k,
    rank_genes,
    recall,
    sliced_wasserstein,
    support_frequency,
)
from .penalties import L1, STVS, KOverlap, Penalty, SmoothedL0, get_penalty
from .responders import (
    responder_fraction,
    responder_fraction_interval,
    responder_fraction_se,
    target_response,
)
from .result import FitResult, MapFit
from .source_side import SourceSide, prepare_source
from .stability import select_by_support, selection_frequency
from .stopping import ConvergenceMonitor
from .summary import DisplacementSummary, summarise_displacements
from .trainer import TrainConfig, Trainer, default_support_tol

__all__ = [
    "ICNN",
    "L1",
    "STVS",
    "AnnealConfig",
    "CellData",
    "CellProfile",
    "ConditionalConfig",
    "ConditionalFit",
    "ConditionalMap",
    "ConvergenceMonitor",
    "DenseCells",
    "DisplacementSummary",
    "FitResult",
    "KOverlap",
    "LazyCells",
    "MapFit",
    "Penalty",
    "SmoothedL0",
    "SourceSide",
    "SparseCells",
    "SparseOTMap",
    "TrainConfig",
    "Trainer",
    "anneal_lambda",
    "as_cells",
    "benjamini_hochberg",
    "composition_test",
    "constrain_dimension",
    "default_support_tol",
    "displacement_dim",
    "empirical_pvalues",
    "fit_conditional",
    "fit_map",
    "gene_scores",
    "get_penalty",
    "map_from_arrays",
    "named_seed",
    "null_scores",
    "null_split_sizes",
    "precision_at_k",
    "prepare_source",
    "rank_genes",
    "recall",
    "resolve_device",
    "responder_fraction",
    "responder_fraction_interval",
    "responder_fraction_se",
    "searches_lambda",
    "select_by_support",
    "selection_frequency",
    "sliced_wasserstein",
    "summarise_displacements",
    "support_frequency",
    "target_response",
]
