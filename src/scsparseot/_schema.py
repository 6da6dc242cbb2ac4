"""The results schema of :func:`scsparseot.tl.sparse_ot`, written in this one place.

Every key name is here, and only this module
writes results to an AnnData. Only types that ``write_h5ad`` stores are used (dict, str, int, float,
bool, None, ndarray, DataFrame).

Written under ``key`` (``key_added``):

* ``adata.layers[f"{key}_displacement_{target}"]`` (one per target, whatever their number; results
  written before 0.1.0 named a single target's layer ``f"{key}_displacement"``, which the getters
  still read, :func:`find_layer`): CSR float32, ``n_obs × n_vars``; rows of source cells hold ``T(x) − x`` with
  ``|Δ| ≤ support_tol`` set to 0; other rows and genes that were not fitted are empty.
* ``adata.obs[f"{key}_response_{target}"]``: per-cell response score: on the source rows the norm
  of the sparsified displacement; on the target's own rows the mean score of the 15 transported
  source cells nearest to the cell in the selected genes (the 50 most moved ones at most;
  :func:`scsparseot.core.target_response`);
  NaN elsewhere.
* ``adata.obs[f"{key}_state"]`` (states from ``state_key``, shared by the targets) or
  ``adata.obs[f"{key}_state_{target}"]`` (states each target's fit found): categorical state of
  every source and target cell, NaN elsewhere; ``uns[key]["state_columns"]`` maps each target to
  its column (methods with states only).
* ``adata.varm[f"{key}_support"]``: DataFrame ``n_vars × n_targets``, share of source cells in
  which the gene moves.
* ``adata.uns[key]`` with ``params`` (resolved arguments), ``summary`` (one row per target),
  ``genes`` (one row per target × fitted gene: the :func:`scsparseot.get.perturbed_genes` table),
  ``history`` (one row per target × evaluation), ``moves`` (one row per target × λ move of an
  automatic search), ``maps`` (the weights of each fitted map, by the target's position in ``summary``)
  and ``warnings`` (the messages of the warnings the fit raised, as an array of str; see
  :func:`write_warnings`). Methods with states add ``states`` (per target position: the state
  names, the per-state table and the gene × state arrays of :attr:`TargetResult.states`, read by
  :func:`scsparseot.get.state_genes`) and ``composition`` (one row per target × state: the
  :func:`scsparseot.get.composition` table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

    from .core import ConditionalMap, SparseOTMap

GENE_COLUMNS = (
    "target",
    "gene",
    "log_fc",
    "mean_displacement",
    "mean_abs_displacement",
    "support_fraction",
    "rank",
    "selected",
    "p_value",
    "adj_p_value",
    "selection_frequency",
)
SUMMARY_COLUMNS = (
    "n_source",
    "n_target",
    "n_genes",
    "n_selected_genes",
    "avg_dim",
    "responder_fraction",
    "responder_fraction_low",
    "responder_fraction_high",
    "sliced_w",
    "lam",
    "n_iters",
    "converged",
    "diverged",
    "reason",
    "null",
    "test_level",
    "n_states",
    "composition_state",
    "composition_log2_ratio",
    "composition_adj_p_value",
    "seconds",
)
#: the per-state arrays of ``uns[key]["states"][pos]``, one entry per state
STATE_ARRAYS = ("names", "n_source", "n_target", "tested", "responds", "n_moved_genes")
#: the gene × state arrays of ``uns[key]["states"][pos]``, ``(n_states, n_fitted_genes)``
STATE_GENE_ARRAYS = ("source_mean", "target_mean", "shift", "p_value", "adj_p_value", "moved")


def layer_key(key: str, target: str) -> str:
    """Layer holding the displacements of ``target``."""
    return f"{key}_displacement_{target}"


def legacy_layer_key(key: str) -> str:
    """The single-target layer name of results written before 0.1.0 (still read, never written)."""
    return f"{key}_displacement"


def find_layer(adata: AnnData, key: str, target: str, n_targets: int) -> str | None:
    """The layer of ``target``'s displacements in ``adata``: the current name, else the legacy one.

    The legacy name ``f"{key}_displacement"`` is accepted only when a single target was fitted.
    """
    name = layer_key(key, target)
    if name in adata.layers:
        return name
    if n_targets == 1 and legacy_layer_key(key) in adata.layers:
        return legacy_layer_key(key)
    return None


def response_key(key: str, target: str) -> str:
    """Obs column of the per-cell response score of ``target``."""
    return f"{key}_response_{target}"


def state_key(key: str, target: str | None) -> str:
    """Obs column of the cells' states: shared (``target=None``, states from ``state_key``) or one target's."""
    return f"{key}_state" if target is None else f"{key}_state_{target}"


def support_key(key: str) -> str:
    """Varm key of the support fractions."""
    return f"{key}_support"


@dataclass(frozen=True)
class TargetResult:
    """Everything written for one target (built by ``tl`` from a core fit)."""

    target: str
    delta: sparse.csr_matrix  # n_source × n_fitted_genes, sparsified
    response: np.ndarray  # n_source, norm of the sparsified displacement
    target_response: np.ndarray  # n_target, mean response of the nearest transported source cells
    log_fc: np.ndarray  # log2 fold change of the means on the count scale (NaN unless log1p data)
    mean_displacement: np.ndarray
    mean_abs_displacement: np.ndarray
    support_fraction: np.ndarray
    selected: np.ndarray
    p_value: np.ndarray
    adj_p_value: np.ndarray
    selection_frequency: np.ndarray
    summary: dict[str, Any]
    history: dict[str, np.ndarray]
    moves: dict[str, np.ndarray]
    map_arrays: dict[str, np.ndarray] | None
    rank_by_p_value: bool = False  # the map's p-values come from exact tests: rank by evidence
    # methods with states: each source and target cell's state name, the STATE_ARRAYS and
    # STATE_GENE_ARRAYS (plus "sd", the source cells' per-gene sd), and the composition table
    source_states: np.ndarray | None = None
    target_states: np.ndarray | None = None
    states: dict[str, np.ndarray] | None = None
    composition: dict[str, np.ndarray] | None = None


def gene_table(target: str, genes: np.ndarray, res: TargetResult) -> pd.DataFrame:
    """The long per-gene table of one target, ranked (rank 1 = first).

    By mean absolute displacement (most moved first), ties (e.g. genes a map leaves exactly in place)
    by p-value, smallest first; with ``res.rank_by_p_value`` (a map whose p-values come from its own
    tests) by p-value first, ties by mean absolute displacement; then by position.
    """
    p = np.nan_to_num(np.asarray(res.p_value, dtype=np.float64), nan=1.0)
    keys = (p, -res.mean_abs_displacement) if res.rank_by_p_value else (-res.mean_abs_displacement, p)
    order = np.lexsort((np.arange(genes.size), keys[1], keys[0]))
    rank = np.empty(genes.size, dtype=np.int64)
    rank[order] = np.arange(1, genes.size + 1)
    df = pd.DataFrame(
        {
            "target": target,
            "gene": genes,
            "log_fc": res.log_fc.astype(np.float64),
            "mean_displacement": res.mean_displacement.astype(np.float64),
            "mean_abs_displacement": res.mean_abs_displacement.astype(np.float64),
            "support_fraction": res.support_fraction.astype(np.float64),
            "rank": rank,
            "selected": res.selected.astype(bool),
            "p_value": res.p_value.astype(np.float64),
            "adj_p_value": res.adj_p_value.astype(np.float64),
            "selection_frequency": res.selection_frequency.astype(np.float64),
        }
    )
    return df.iloc[order].reset_index(drop=True)


def _long(results: list[TargetResult], field: str) -> pd.DataFrame:
    frames = []
    for res in results:
        table = getattr(res, field)
        if table and len(next(iter(table.values()))):
            frames.append(pd.DataFrame({"target": res.target, **table}))
    if not frames:
        return pd.DataFrame({"target": pd.Categorical([])})
    df = pd.concat(frames, ignore_index=True)
    df["target"] = pd.Categorical(df["target"], categories=[r.target for r in results])
    return df


def write_results(
    adata: AnnData,
    key: str,
    *,
    params: dict[str, Any],
    results: list[TargetResult],
    source_rows: np.ndarray,
    target_rows: dict[str, np.ndarray],
    gene_idx: np.ndarray,
    shared_states: bool = False,
) -> list[str]:
    """Write all results in one go; returns the names of the fields written (for logging).

    ``shared_states``: the states are the same labels for every target (``state_key``), written
    to one obs column.
    """
    n_obs, n_vars = adata.n_obs, adata.n_vars
    targets = [r.target for r in results]
    genes = adata.var_names.to_numpy()[gene_idx].astype(str)
    written = []
    _drop_previous(adata, key)
    support = pd.DataFrame(0.0, index=adata.var_names.copy(), columns=pd.Index(targets, dtype=object))
    for res in results:
        # place the (n_source × n_fitted) block into an n_obs × n_vars CSR matrix
        coo = res.delta.tocoo()
        full = sparse.csr_matrix(
            (coo.data.astype(np.float32), (source_rows[coo.row], gene_idx[coo.col])),
            shape=(n_obs, n_vars),
            dtype=np.float32,
        )
        full.sort_indices()
        lk = layer_key(key, res.target)
        adata.layers[lk] = full
        written.append(f"layers[{lk!r}]")
        support.iloc[gene_idx, support.columns.get_loc(res.target)] = res.support_fraction
        score = np.full(n_obs, np.nan, dtype=np.float32)
        score[source_rows] = res.response
        score[target_rows[res.target]] = res.target_response
        adata.obs[response_key(key, res.target)] = score
        written.append(f"obs[{response_key(key, res.target)!r}]")
    state_columns = _write_states(adata, key, results, source_rows, target_rows, shared=shared_states)
    written += [f"obs[{c!r}]" for c in dict.fromkeys(state_columns.values())]
    adata.varm[support_key(key)] = support
    written.append(f"varm[{support_key(key)!r}]")
    summary = pd.DataFrame([r.summary for r in results], index=pd.Index(targets, name="target"))
    summary = summary[list(SUMMARY_COLUMNS)]
    gene_tables = [gene_table(r.target, genes, r) for r in results]
    table = pd.concat(gene_tables, ignore_index=True)
    table["target"] = pd.Categorical(table["target"], categories=targets)
    adata.uns[key] = {
        "params": params,
        "summary": summary,
        "genes": table[list(GENE_COLUMNS)],
        "history": _long(results, "history"),
        "moves": _long(results, "moves"),
        "maps": {str(i): r.map_arrays for i, r in enumerate(results) if r.map_arrays is not None},
    }
    if state_columns:
        adata.uns[key]["state_columns"] = state_columns
        adata.uns[key]["states"] = {str(i): r.states for i, r in enumerate(results) if r.states is not None}
        adata.uns[key]["composition"] = _composition_table(results)
    written.append(f"uns[{key!r}]")
    return written


def _write_states(
    adata: AnnData,
    key: str,
    results: list[TargetResult],
    source_rows: np.ndarray,
    target_rows: dict[str, np.ndarray],
    *,
    shared: bool,
) -> dict[str, str]:
    """The obs columns of the cells' states (one shared, or one per target); returns target → column."""
    columns: dict[str, str] = {}
    shared_labels = np.full(adata.n_obs, None, dtype=object)
    for res in results:
        if res.source_states is None:
            continue
        col = state_key(key, None if shared else res.target)
        columns[res.target] = col
        labels = shared_labels if shared else np.full(adata.n_obs, None, dtype=object)
        labels[source_rows] = res.source_states
        labels[target_rows[res.target]] = res.target_states
        if not shared:
            adata.obs[col] = _categorical(labels, res.states["names"])
    if shared and columns:
        names = next(r.states["names"] for r in results if r.states is not None)
        adata.obs[state_key(key, None)] = _categorical(shared_labels, names)
    return columns


def _categorical(labels: np.ndarray, names: np.ndarray) -> pd.Categorical:
    return pd.Categorical(labels, categories=pd.unique(np.asarray(names, dtype=str)))


def _composition_table(results: list[TargetResult]) -> pd.DataFrame:
    """One row per target × state: ``target, state`` and the composition columns."""
    frames = [
        pd.DataFrame({"target": r.target, "state": np.asarray(r.states["names"], dtype=str), **r.composition})
        for r in results
        if r.composition is not None
    ]
    df = pd.concat(frames, ignore_index=True)
    df["target"] = pd.Categorical(df["target"], categories=[r.target for r in results])
    df["test"] = df["test"].astype(str)
    return df


def write_warnings(adata: AnnData, key: str, messages: list[str]) -> str:
    """Record the warnings a fit raised in ``adata.uns[key]["warnings"]`` (unique messages, in order).

    Stored as a 1-d array of str (``write_h5ad`` stores no lists); an empty array when there were
    none. Returns the name of the field written (for logging).
    """
    unique = list(dict.fromkeys(str(m) for m in messages))
    adata.uns[key]["warnings"] = np.asarray(unique, dtype=object) if unique else np.empty(0, dtype=object)
    return f"uns[{key!r}]['warnings']"


def read_warnings(res: dict[str, Any]) -> list[str]:
    """The warnings recorded with a fit's results (``[]`` for results written without them)."""
    return [str(m) for m in np.asarray(res.get("warnings", []), dtype=object).ravel()]


def _drop_previous(adata: AnnData, key: str) -> None:
    """Remove the layers of an earlier run under the same key (so no stale target is left)."""
    old = adata.uns.get(key)
    if not isinstance(old, dict) or "summary" not in old:
        return
    targets = fitted_targets(old)
    if len(targets) == 1:
        adata.layers.pop(legacy_layer_key(key), None)
    for t in targets:
        adata.layers.pop(layer_key(key, t), None)
        if response_key(key, t) in adata.obs:
            del adata.obs[response_key(key, t)]
    for col in set(dict(old.get("state_columns", {})).values()):
        if col in adata.obs:
            del adata.obs[col]


def read_results(adata: AnnData, key: str) -> dict[str, Any]:
    """``adata.uns[key]`` after checking that ``tl.sparse_ot`` wrote it."""
    if key not in adata.uns:
        found = [k for k, v in adata.uns.items() if isinstance(v, dict) and "summary" in v and "genes" in v]
        hint = f" Results found under: {', '.join(map(repr, found))}." if found else ""
        msg = f"No scsparseot results under adata.uns[{key!r}]; run scsparseot.tl.sparse_ot(adata, ..., key_added={key!r}) first.{hint}"
        raise KeyError(msg)
    res = adata.uns[key]
    missing = [k for k in ("params", "summary", "genes") if k not in res]
    if missing:
        msg = f"adata.uns[{key!r}] lacks {missing}; it was not written by scsparseot.tl.sparse_ot."
        raise KeyError(msg)
    return res


def fitted_targets(res: dict[str, Any]) -> list[str]:
    """The targets of a fit's results (``read_results``), in the order they were fitted."""
    return [str(t) for t in res["summary"].index]


def check_target(res: dict[str, Any], key: str, target: str | None) -> str:
    """Resolve ``target`` (``None`` is allowed only when one target was fitted)."""
    targets = fitted_targets(res)
    if target is None:
        if len(targets) == 1:
            return targets[0]
        msg = f"adata.uns[{key!r}] holds {len(targets)} targets; pick one with target=, one of {targets}."
        raise ValueError(msg)
    if str(target) not in targets:
        msg = (
            f"target={target!r} was not fitted under key {key!r}; fitted targets: {targets}. "
            f"If {target!r} is the key_added of a fit, pass key={target!r} (key is keyword-only)."
        )
        raise KeyError(msg)
    return str(target)


def check_targets(
    res: dict[str, Any], key: str, targets: str | Sequence[str] | None, *, allow_empty: bool = True
) -> list[str]:
    """Resolve ``targets``: one name or a list, each checked with :func:`check_target`.

    Parameters
    ----------
    res
        The results (:func:`read_results`).
    key
        Their key, for messages.
    targets
        A target, a list of targets, or ``None`` for every fitted target (in fit order).
    allow_empty
        Whether an empty list is returned as such; otherwise it raises a :class:`ValueError`.

    Returns
    -------
    list of str
        The target names, in the order given.
    """
    if targets is None:
        return fitted_targets(res)
    targets = [targets] if isinstance(targets, str) else list(targets)
    if not targets and not allow_empty:
        msg = "targets is empty; pass None for every fitted target or a list of target names."
        raise ValueError(msg)
    return [check_target(res, key, t) for t in targets]


def read_map(adata: AnnData, key: str, target: str | None = None) -> SparseOTMap | ConditionalMap:
    """Rebuild the fitted map of ``target`` (:class:`~scsparseot.core.SparseOTMap` or :class:`~scsparseot.core.ConditionalMap`)."""
    from .core.map_arrays import map_from_arrays  # torch: imported only when a map is rebuilt

    res = read_results(adata, key)
    target = check_target(res, key, target)
    pos = str(fitted_targets(res).index(target))
    maps = res.get("maps", {})
    if pos not in maps:
        msg = f"The map of {target!r} was not stored; rerun tl.sparse_ot with store_maps=True."
        raise KeyError(msg)
    return map_from_arrays(maps[pos])
