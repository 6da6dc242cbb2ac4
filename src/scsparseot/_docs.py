"""Shared parameter documentation, inserted with :func:`doc_params` (as scanpy's ``_doc_params``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    F = TypeVar("F", bound=Callable)

doc_adata = """\
adata
    Annotated data matrix with control and treated cells (cells × genes)."""

doc_key = """\
key
    Key under which :func:`scsparseot.tl.sparse_ot` wrote its results (its ``key_added``)."""

doc_gene_symbols = """\
gene_symbols
    Column of ``adata.var`` whose names label the genes (e.g. symbols when ``var_names`` are
    Ensembl IDs), as in scanpy's plots; ``genes=`` may then be given in these names too.
    ``None`` labels genes by ``var_names``."""

doc_plot = """\
ax
    Matplotlib axes to draw into; a new figure is created when ``None``.
show
    Show the figure. ``None`` shows it unless ``ax`` was given or ``return_fig`` is set.
return_fig
    Return the :class:`~matplotlib.figure.Figure` instead of the axes."""

doc_plot_returns = """\
Returns
-------
The :class:`~matplotlib.figure.Figure` if ``return_fig=True``; the
:class:`~matplotlib.axes.Axes` if ``show=False``; otherwise ``None`` (the plot is shown)."""


def _indent(text: str, indent: int = 4) -> str:
    """Indent every line after the first, so a snippet placed at a docstring's indentation fits."""
    first, *rest = text.splitlines()
    return "\n".join([first, *((" " * indent + line) if line else line for line in rest)])


def doc_params(**kwds: str) -> Callable[[F], F]:
    """Format the decorated object's docstring with ``kwds`` (snippets are indented to fit)."""
    indented = {k: _indent(v) for k, v in kwds.items()}

    def dec(obj: F) -> F:
        obj.__doc__ = obj.__doc__.format_map(indented) if obj.__doc__ else obj.__doc__
        return obj

    return dec
