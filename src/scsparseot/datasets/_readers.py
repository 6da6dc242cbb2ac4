"""Readers for the public CellOT-format perturbation files (4i imaging and sci-Plex3 sc-RNA).

The files are not downloaded here (no network access is assumed): fetch them once from the CellOT
data release (https://www.research-collection.ethz.ch/handle/20.500.11850/609681) and pass the
path. Each reader checks that the file has the layout the rest of the package expects and says
what is wrong otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from .._checks import listing as _listing
from .._warnings import find_stack_level

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["fouri", "sciplex3"]

logger = logging.getLogger(__name__)

#: Feature names of the 4i files: ``intensity-<compartment>-<marker>-<statistic>`` and
#: ``morphology-<compartment>-<feature>`` (compartment such as ``cell``, ``nuclei``, ``cytoplasm``).
FOURI_FEATURE_PATTERN = re.compile(r"^(intensity|morphology)-[A-Za-z]+-\S+$")
#: Number of features the published 4i analyses use (CellOT ``features.txt``).
FOURI_N_FEATURES = 48
DATA_URL = "https://www.research-collection.ethz.ch/handle/20.500.11850/609681"
_CHUNK_ROWS = 20_000


def fouri(
    path: str | os.PathLike[str],
    *,
    features: Sequence[str] | str | os.PathLike[str] | None = None,
    groupby: str = "drug",
    control: str = "control",
) -> ad.AnnData:
    """Read the 4i imaging perturbation data of CellOT (``8h.h5ad``) and check its layout.

    The file holds melanoma cells imaged by iterative indirect immunofluorescence (4i) 8 hours
    after treatment with one of 34 drugs (cisplatin, ixazomib, melphalan, sorafenib, ...) or
    none (``obs["drug"] == "control"``). Its features are per-cell marker intensities and shape
    measurements named ``intensity-<compartment>-<marker>-mean`` and
    ``morphology-<compartment>-<feature>`` (for example ``morphology-nuclei-area``); the published
    analyses use 48 of them, listed in CellOT's ``features.txt``. Features are left in their units
    (the reference code does not rescale them either).

    Parameters
    ----------
    path
        Path to ``8h.h5ad`` (download it from the CellOT data release,
        https://www.research-collection.ethz.ch/handle/20.500.11850/609681).
    features
        Features to keep: a list of names or the path of a text file with one name per line
        (CellOT's ``features.txt``). ``None`` keeps every feature of the file.
    groupby
        Column of ``obs`` holding the treatment of each cell.
    control
        Label of the untreated cells in ``obs[groupby]``.

    Returns
    -------
    The AnnData as stored in the file (restricted to ``features`` when given), cells × features,
    with ``obs[groupby]`` holding ``control`` and at least one drug.

    Raises
    ------
    FileNotFoundError
        If ``path`` (or the ``features`` file) does not exist.
    KeyError
        If ``obs[groupby]`` is missing or a requested feature is not in the file.
    ValueError
        If the file is not an h5ad file, has no ``control`` group or no treated group, holds
        non-numeric, NaN or infinite values, or has no feature named like a 4i feature.

    Warns
    -----
    UserWarning
        If some features do not follow the 4i naming pattern (pass ``features=`` to drop them).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.fouri("data/4i/8h.h5ad")  # doctest: +SKIP
    >>> sso.tl.sparse_ot(adata, target=["cisplatin", "sorafenib"], support_tol=0.01)  # doctest: +SKIP
    """
    path = _check_path(path, "4i")
    adata = _read(path)
    where = f"{path.name}"
    _check_var_names(adata, where)
    if features is not None:
        adata = _select_features(adata, features, where)
    _check_groups(adata, groupby, control, where)
    _check_matrix(adata, where)
    names = adata.var_names.astype(str)
    ok = np.array([bool(FOURI_FEATURE_PATTERN.match(n)) for n in names])
    if not ok.any():
        msg = (
            f"{where} does not look like 4i data: none of its {adata.n_vars} features is named like "
            f"'intensity-<compartment>-<marker>-mean' or 'morphology-<compartment>-<feature>'; "
            f"found {_listing(names, 5)}. Is this the right file (sci-Plex3 files are read by "
            "sso.datasets.sciplex3)?"
        )
        raise ValueError(msg)
    if not ok.all():
        warnings.warn(
            f"{where}: {int((~ok).sum())} of {adata.n_vars} features are not named like 4i features "
            f"('intensity-...' / 'morphology-...'): {_listing(names[~ok], 10)}. Pass features=[...] "
            "(or CellOT's features.txt) to keep only the imaging features.",
            UserWarning,
            stacklevel=find_stack_level(),
        )
    if adata.n_vars != FOURI_N_FEATURES:
        logger.info(
            "%s has %d features; the published 4i analyses use %d (pass features= to select them)",
            where,
            adata.n_vars,
            FOURI_N_FEATURES,
        )
    logger.info(
        "read %s: %d cells × %d features, %s", where, adata.n_obs, adata.n_vars, _counts(adata, groupby)
    )
    return adata


def sciplex3(
    path: str | os.PathLike[str],
    *,
    groupby: str = "drug",
    control: str = "control",
    cell_type_key: str = "cell_type",
    cell_type: str | Sequence[str] | None = None,
) -> ad.AnnData:
    """Read the sci-Plex3 drug-screen data of CellOT (``hvg.h5ad``) and check its layout.

    sci-Plex3 (Srivatsan et al. 2020) profiles three cancer cell lines (A549, K562, MCF7) treated
    with 188 compounds by single-cell RNA-seq. CellOT's file keeps the 1,000 most variable genes
    as log-normalised expression, ``obs["drug"]`` (``"control"`` for vehicle) and
    ``obs["cell_type"]``. Maps are best fitted within one cell line (``cell_type=``), since the
    cell lines differ far more than any drug moves them.

    Parameters
    ----------
    path
        Path to the sci-Plex3 h5ad file (``hvg.h5ad`` of the CellOT data release,
        https://www.research-collection.ethz.ch/handle/20.500.11850/609681).
    groupby
        Column of ``obs`` holding the treatment of each cell.
    control
        Label of the vehicle-treated cells in ``obs[groupby]``.
    cell_type_key
        Column of ``obs`` holding the cell line.
    cell_type
        Keep only these cell lines (one label or a list); ``None`` keeps all.

    Returns
    -------
    The AnnData as stored in the file (restricted to ``cell_type`` when given), cells × genes,
    with ``obs[groupby]`` holding ``control`` and at least one drug.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    KeyError
        If ``obs[groupby]`` or ``obs[cell_type_key]`` is missing, or a requested cell type is not
        in the file.
    ValueError
        If the file is not an h5ad file, has no ``control`` group or no treated group (within the
        selected cell types), or holds non-numeric, NaN or infinite values.

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.sciplex3("data/sciplex3/hvg.h5ad", cell_type="A549")  # doctest: +SKIP
    >>> sso.tl.sparse_ot(adata, target="trametinib", max_genes=30)  # doctest: +SKIP
    """
    path = _check_path(path, "sci-Plex3")
    adata = _read(path)
    where = f"{path.name}"
    _check_var_names(adata, where)
    if cell_type_key not in adata.obs.columns:
        msg = (
            f"{where} has no obs[{cell_type_key!r}] column with the cell line of each cell. "
            f"obs columns found: {_listing(adata.obs.columns)}; pass cell_type_key= to use another."
        )
        raise KeyError(msg)
    if cell_type is not None:
        wanted = [cell_type] if isinstance(cell_type, str) else [str(c) for c in cell_type]
        present = pd.unique(adata.obs[cell_type_key].astype(str))
        missing = [c for c in wanted if c not in present]
        if missing:
            msg = f"cell_type {_listing(missing)} not found in obs[{cell_type_key!r}] of {where}. Available: {_listing(present)}."
            raise KeyError(msg)
        adata = adata[adata.obs[cell_type_key].astype(str).isin(wanted).to_numpy()].copy()
        where = f"{where} (cell_type {', '.join(wanted)})"
    _check_groups(adata, groupby, control, where)
    _check_matrix(adata, where)
    logger.info("read %s: %d cells × %d genes, %s", where, adata.n_obs, adata.n_vars, _counts(adata, groupby))
    return adata


# ---------------------------------------------------------------------------- checks


def _check_path(path: str | os.PathLike[str], what: str) -> Path:
    if not isinstance(path, str | os.PathLike):
        msg = f"path must be a file path (str or os.PathLike), got {type(path).__name__}."
        raise TypeError(msg)
    p = Path(path).expanduser()
    if not p.exists():
        msg = f"No {what} file at '{p}'. Download it from the CellOT data release ({DATA_URL}) and pass its path."
        raise FileNotFoundError(msg)
    if p.is_dir():
        msg = f"'{p}' is a directory; pass the path of the {what} .h5ad file inside it."
        raise ValueError(msg)
    return p


def _read(path: Path) -> ad.AnnData:
    try:
        return ad.read_h5ad(path)
    except OSError as err:
        msg = f"'{path}' could not be read as an .h5ad (AnnData/HDF5) file: {err}"
        raise ValueError(msg) from err


def _check_var_names(adata: ad.AnnData, where: str) -> None:
    if not adata.var_names.is_unique:
        dup = adata.var_names[adata.var_names.duplicated()].unique()
        msg = f"{where} has duplicated feature names: {_listing(dup, 10)}; call adata.var_names_make_unique() on it."
        raise ValueError(msg)


def _select_features(
    adata: ad.AnnData, features: Sequence[str] | str | os.PathLike[str], where: str
) -> ad.AnnData:
    if isinstance(features, str | os.PathLike):
        fpath = Path(features).expanduser()
        if not fpath.is_file():
            msg = f"No features file at '{fpath}'; pass a list of feature names or the path of a text file with one name per line."
            raise FileNotFoundError(msg)
        names = fpath.read_text().split()
    else:
        names = [str(f) for f in features]
    if not names:
        msg = "features selects no feature; pass at least one name (or None for all features)."
        raise ValueError(msg)
    missing = [f for f in names if f not in adata.var_names]
    if missing:
        msg = (
            f"{len(missing)} requested feature(s) are not in {where}: {_listing(missing, 10)}. "
            f"Features in the file: {_listing(adata.var_names, 10)}."
        )
        raise KeyError(msg)
    return adata[:, names].copy()


def _check_groups(adata: ad.AnnData, groupby: str, control: str, where: str) -> None:
    if groupby not in adata.obs.columns:
        msg = (
            f"{where} has no obs[{groupby!r}] column with the treatment of each cell. "
            f"obs columns found: {_listing(adata.obs.columns)}; pass groupby= to use another."
        )
        raise KeyError(msg)
    labels = adata.obs[groupby]
    if labels.isna().any():
        msg = f"obs[{groupby!r}] of {where} has {int(labels.isna().sum())} missing labels; expected a treatment for every cell."
        raise ValueError(msg)
    present = list(pd.unique(labels.astype(str)))
    if str(control) not in present:
        msg = (
            f"obs[{groupby!r}] of {where} has no {control!r} group (the untreated cells); "
            f"found {_listing(sorted(present))}. Pass control= with the label of the untreated cells."
        )
        raise ValueError(msg)
    if len(present) < 2:
        msg = f"obs[{groupby!r}] of {where} holds only the {control!r} group; expected treated cells too."
        raise ValueError(msg)


def _check_matrix(adata: ad.AnnData, where: str) -> None:
    x = adata.X
    if x is None:
        msg = f"{where} has no expression matrix (X is empty); expected cells × features numbers."
        raise ValueError(msg)
    dtype = getattr(x, "dtype", None)
    if dtype is None or not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        msg = f"X of {where} must hold real numbers, found dtype {dtype}."
        raise ValueError(msg)
    if not np.issubdtype(dtype, np.floating):
        return
    bad_cols = np.zeros(adata.n_vars, dtype=np.int64)
    if sparse.issparse(x):
        csr = sparse.csr_matrix(x)
        bad = ~np.isfinite(csr.data)
        np.add.at(bad_cols, csr.indices[bad], 1)
    else:
        for start in range(0, adata.n_obs, _CHUNK_ROWS):  # chunked: no full-size boolean copy
            bad_cols += (~np.isfinite(np.asarray(x[start : start + _CHUNK_ROWS]))).sum(0)
    if bad_cols.any():
        cols = np.flatnonzero(bad_cols)
        names = [f"{adata.var_names[i]} ({bad_cols[i]})" for i in cols]
        msg = (
            f"X of {where} holds {int(bad_cols.sum())} NaN/infinite value(s), in {cols.size} feature(s): "
            f"{', '.join(names[:10])}{', …' if cols.size > 10 else ''}. Expected finite numbers; "
            "drop those cells or features, or impute them (e.g. np.nan_to_num)."
        )
        raise ValueError(msg)


def _counts(adata: ad.AnnData, groupby: str) -> str:
    counts = adata.obs[groupby].astype(str).value_counts()
    return f"{counts.size} groups in obs[{groupby!r}]"
