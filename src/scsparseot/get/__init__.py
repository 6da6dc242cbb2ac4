"""Getters: tidy tables and fitted maps from the results of :func:`scsparseot.tl.sparse_ot`."""

from ._compare import compare
from ._tables import map, perturbed_genes, response, summary, training_history

__all__ = ["compare", "map", "perturbed_genes", "response", "summary", "training_history"]
