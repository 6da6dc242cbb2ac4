"""Getters: tidy tables and fitted maps from the results of :func:`scsparseot.tl.sparse_ot`."""

from ._compare import compare
from ._response import response
from ._run import fit_warnings, params
from ._states import composition, state_genes
from ._tables import map, perturbed_genes, summary, training_history

__all__ = [
    "compare",
    "composition",
    "fit_warnings",
    "map",
    "params",
    "perturbed_genes",
    "response",
    "state_genes",
    "summary",
    "training_history",
]
