"""Plots of the results of :func:`scsparseot.tl.sparse_ot` (scanpy conventions: ``ax``, ``show``, ``return_fig``)."""

from ._displacement import displacement
from ._overlap import gene_overlap
from ._response import response
from ._state_genes import state_genes
from ._support import support
from ._training import training
from ._transport import transport

__all__ = ["displacement", "gene_overlap", "response", "state_genes", "support", "training", "transport"]
