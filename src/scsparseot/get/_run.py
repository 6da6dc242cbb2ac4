"""How a fit was run: its resolved parameters and the warnings it raised (read through :mod:`scsparseot._schema`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _schema
from .._docs import doc_adata, doc_key, doc_params

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["fit_warnings", "params"]


def _plain(value: Any) -> Any:
    """Arrays as lists and numpy scalars as Python scalars, recursively (as ``write_h5ad`` stores them back)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def params(adata: AnnData, *, key: str = "sparse_ot") -> dict[str, Any]:
    """The resolved arguments of the fit under ``key``, as plain Python values.

    Parameters
    ----------
    {doc_adata}
    {doc_key}

    Returns
    -------
    A new dict (changing it changes nothing in ``adata``): every argument of
    :func:`scsparseot.tl.sparse_ot` as resolved for the fit; arrays (such as ``targets``) are
    returned as lists and numpy scalars as Python scalars, the same before and after
    ``write_h5ad`` / ``read_h5ad``.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> p = sso.get.params(adata)
    >>> p["groupby"], p["targets"], p["lam"]
    ('drug', ['drug_1'], 1.0)
    """
    return _plain(_schema.read_results(adata, key)["params"])


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def fit_warnings(adata: AnnData, *, key: str = "sparse_ot") -> list[str]:
    """The messages of the warnings that the fit under ``key`` raised, in the order raised.

    Parameters
    ----------
    {doc_adata}
    {doc_key}

    Returns
    -------
    A list of str, one per distinct warning shown while :func:`scsparseot.tl.sparse_ot` ran (groups
    skipped for having too few cells, constant genes, raw counts, diverged fits, ...); empty when
    there were none, or for results written before warnings were recorded. Warnings that the
    caller's filters ignored, and those raised in executor worker processes, are not recorded.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> sso.get.fit_warnings(adata)
    []
    """
    return _schema.read_warnings(_schema.read_results(adata, key))
