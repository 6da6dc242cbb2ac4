"""Tools: fit sparse OT maps on AnnData."""

from ._sparse_ot import sparse_ot

__all__ = ["sparse_ot"]
