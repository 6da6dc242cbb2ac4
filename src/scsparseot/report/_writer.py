"""``report.write_report``: tables, figures and an HTML page from what ``tl.sparse_ot`` wrote.

Everything is read through ``scsparseot.get`` and drawn by ``scsparseot.pl``
(``return_fig=True``); nothing is refitted.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import get, pl
from .._docs import doc_adata, doc_key, doc_params
from ._html import render

if TYPE_CHECKING:
    import os
    from collections.abc import Callable

    import pandas as pd
    from anndata import AnnData
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = ["write_report"]

#: Groups with fewer cells than this get a note in the report: maps and gene calls from so few cells are unreliable.
FEW_CELLS = 50


@dataclass
class ReportFigure:
    """One figure of the report: its file (relative to the report folder) and caption, or why it is missing."""

    path: str | None
    caption: str
    error: str | None = None


@dataclass
class DrugPage:
    """What the report shows for one target."""

    target: str
    folder: str
    summary: dict
    genes: pd.DataFrame
    figures: list[ReportFigure] = field(default_factory=list)


def _folder_names(targets: list[str]) -> dict[str, str]:
    """A file-system-safe, unique folder name per target (``"Dex 10 µM"`` → ``"Dex_10__M"``)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for t in targets:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", t).strip(".") or "target"
        name, i = base, 2
        while name.lower() in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name.lower())
        out[t] = name
    return out


def _selected_first(df: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """Selected genes first, then the others; within each, targets in fit order and genes by rank."""
    order = {t: i for i, t in enumerate(targets)}
    return (
        df.assign(_s=~df["selected"], _t=df["target"].map(order))
        .sort_values(["_s", "_t", "rank"], kind="stable")
        .drop(columns=["_s", "_t"])
        .reset_index(drop=True)
    )


def _save(out: Path, rel: str, caption: str, draw: Callable[[], Figure], dpi: int) -> ReportFigure:
    """Draw one figure and save it as PNG; a plot that cannot be drawn is reported, not fatal."""
    import matplotlib.pyplot as plt

    try:
        fig = draw()
    except (ValueError, KeyError) as err:
        reason = err.args[0] if err.args else repr(err)
        logger.warning("figure %s not drawn: %s", rel, reason)
        return ReportFigure(None, caption, error=str(reason))
    try:
        fig.savefig(out / rel, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return ReportFigure(rel, caption)


def _notes(summary: pd.DataFrame, genes: pd.DataFrame) -> list[str]:
    """Points a reader must know, derived from the summary (in addition to the fit's own warnings)."""
    notes = []
    for row in summary.itertuples(index=False):
        t = row.target
        if row.diverged:
            notes.append(f"{t}: the fit diverged ({row.reason}); its genes are not to be trusted.")
        elif not row.converged and getattr(row, "null", None) == "tests":
            notes.append(
                f"{t}: training stopped at {row.reason}; the gene calls come from the map's tests and do not "
                "depend on it, the displacements may change with more iterations (n_iters)."
            )
        elif not row.converged:
            notes.append(
                f"{t}: the fit did not converge ({row.reason}); more iterations (n_iters) may change its genes."
            )
        if row.n_target < FEW_CELLS:
            notes.append(
                f"{t}: only {row.n_target} treated cells (fewer than {FEW_CELLS}); its map and gene calls are uncertain."
            )
        if row.n_selected_genes == 0:
            notes.append(f"{t}: no gene was selected; the table lists its best-ranked genes instead.")
    n_source = int(summary["n_source"].iloc[0]) if len(summary) else 0
    if len(summary) and n_source < FEW_CELLS:
        notes.insert(0, f"Only {n_source} control cells (fewer than {FEW_CELLS}); every map is uncertain.")
    return notes


def _state_section(adata: AnnData, key: str, out: Path, dpi: int) -> list[ReportFigure]:
    """The default map's states: ``state_genes.tsv`` (moved genes per state), ``composition.tsv`` and the dot plot."""
    if "states" not in adata.uns[key]:
        return []
    get.state_genes(adata, key=key, moved_only=True).to_csv(out / "state_genes.tsv", sep="\t", index=False)
    get.composition(adata, key=key).to_csv(out / "composition.tsv", sep="\t", index=False)
    return [
        _save(
            out,
            "state_genes.png",
            "Moved genes in each drug × cell state: colour = mean shift in the state (SD of the control "
            "cells), dot size = −log10 adjusted p-value there, ring = the map moves the gene there.",
            lambda: pl.state_genes(adata, key=key, return_fig=True, show=False),
            dpi,
        )
    ]


def _composition_notes(summary: pd.DataFrame) -> list[str]:
    """One note per drug whose mix of cell states changed (the largest change, from the summary)."""
    if "composition_state" not in summary:
        return []
    notes = []
    for row in summary.itertuples(index=False):
        if isinstance(row.composition_state, str) and row.composition_adj_p_value <= 0.05:
            notes.append(
                f"{row.target}: the share of state {row.composition_state!r} changed "
                f"(log2 ratio {row.composition_log2_ratio:.2f}, adjusted p {row.composition_adj_p_value:.2g}, "
                f"test on {'replicates' if row.test_level == 'replicates' else 'cells'}); see composition.tsv. "
                "Genes are tested within states, so the change of mix is not called as genes."
            )
    return notes


@doc_params(doc_adata=doc_adata, doc_key=doc_key)
def write_report(
    adata: AnnData,
    out: str | os.PathLike[str],
    *,
    key: str = "sparse_ot",
    groupby: str | None = None,
    top_n: int = 20,
    title: str | None = None,
    source_file: str | None = None,
    embed_images: bool = True,
    dpi: int = 110,
) -> Path:
    """Write a per-drug report of the fit under ``key`` into the folder ``out``.

    Reads only what :func:`scsparseot.tl.sparse_ot` stored (through ``scsparseot.get``); nothing is
    refitted. Writes:

    * ``summary.tsv``: one row per drug (:func:`scsparseot.get.summary`);
    * ``genes.tsv``: the long :func:`scsparseot.get.perturbed_genes` table, selected genes first;
    * ``<drug>/genes.tsv``: the same for each drug (folder names keep letters, digits, ``.``, ``_``
      and ``-``; other characters become ``_``);
    * figures as PNG: ``overlap_upset.png``, ``overlap_jaccard.png`` (:func:`scsparseot.pl.gene_overlap`),
      ``support.png`` (:func:`scsparseot.pl.support`) and per drug ``<drug>/displacement.png``
      (:func:`scsparseot.pl.displacement`), ``<drug>/response.png`` (:func:`scsparseot.pl.response`,
      only with ``groupby``) and ``<drug>/training.png`` (:func:`scsparseot.pl.training`, when a
      training history was stored);
    * for the default map: ``state_genes.tsv`` (the moved genes of each drug × state,
      :func:`scsparseot.get.state_genes`), ``composition.tsv`` (:func:`scsparseot.get.composition`)
      and ``state_genes.png`` (:func:`scsparseot.pl.state_genes`), with a note per drug whose mix of
      states changed;
    * ``index.html``: one page with the run's parameters, the warnings the fit raised and notes on
      non-converged fits, small groups and drugs without selected genes, the summary, and per drug
      its table of selected genes and its figures, and the session's versions as session-info2
      reports them (scsparseot, then every loaded distribution). It needs no server and no network.

    A figure that cannot be drawn (for example an overlap plot when no drug selected a gene) is
    listed on the page with the reason instead of stopping the report.

    Parameters
    ----------
    {doc_adata}
    out
        Folder to write into (created if missing; files of an earlier report are overwritten).
    {doc_key}
    groupby
        Column of ``adata.obs`` (such as ``"cell_type"``) by which to show each drug's per-cell
        response; ``None`` leaves that figure out.
    top_n
        Genes per drug in the displacement heatmap, and in a drug's table on the page when no
        gene was selected.
    title
        Page title; default ``"scsparseot report"``.
    source_file
        Name of the results file, shown on the page.
    embed_images
        Embed the figures in ``index.html`` (one file to send around); ``False`` links the PNG files
        next to it instead (a smaller page that needs its folder).
    dpi
        Resolution of the PNG figures.

    Returns
    -------
    The path of ``index.html``.

    Examples
    --------
    >>> import tempfile
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=20, n_perturbed=3, n_drugs=2)
    >>> sso.tl.sparse_ot(adata, lam=1.0, n_iters=50, fdr=None, progress=False)
    >>> page = sso.report.write_report(adata, tempfile.mkdtemp())
    >>> sorted(p.name for p in page.parent.iterdir())  # doctest: +NORMALIZE_WHITESPACE
    ['drug_1', 'drug_2', 'genes.tsv', 'index.html', 'overlap_jaccard.png', 'overlap_upset.png',
     'summary.tsv', 'support.png']
    """
    # ---- check everything before writing anything
    summary = get.summary(adata, key=key)
    params = get.params(adata, key=key)
    messages = get.fit_warnings(adata, key=key)
    if groupby is not None and groupby not in adata.obs:
        msg = (
            f"groupby={groupby!r} is not a column of adata.obs. Available columns: {list(adata.obs.columns)}."
        )
        raise KeyError(msg)
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        msg = f"top_n must be a positive integer, got {top_n!r}."
        raise ValueError(msg)
    targets = summary["target"].tolist()
    genes = get.perturbed_genes(adata, key=key)
    folders = _folder_names(targets)
    history = get.training_history(adata, key=key)
    has_history = set(history["target"].astype(str)) if len(history) else set()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.tsv", sep="\t", index=False)
    _selected_first(genes, targets).to_csv(out / "genes.tsv", sep="\t", index=False)

    overview = [
        _save(
            out,
            "overlap_upset.png",
            "Overlap of the drugs' selected genes (UpSet): each column is the set of genes selected "
            "for exactly the drugs marked below it.",
            lambda: pl.gene_overlap(adata, key=key, return_fig=True, show=False),
            dpi,
        ),
        _save(
            out,
            "overlap_jaccard.png",
            "Jaccard index of the drugs' selected genes (shared / union).",
            lambda: pl.gene_overlap(adata, key=key, kind="jaccard", return_fig=True, show=False),
            dpi,
        ),
        _save(
            out,
            "support.png",
            "Best-ranked genes of every drug: dot area = share of control cells the map moves in the "
            "gene, colour = mean displacement (red up, blue down).",
            lambda: pl.support(adata, key=key, return_fig=True, show=False),
            dpi,
        ),
    ]

    overview += _state_section(adata, key, out, dpi)

    pages = []
    for row in summary.to_dict("records"):
        t = row["target"]
        folder = folders[t]
        (out / folder).mkdir(exist_ok=True)
        table = _selected_first(genes[genes["target"] == t], targets)
        table.to_csv(out / folder / "genes.tsv", sep="\t", index=False)
        page = DrugPage(t, folder, row, table)
        page.figures.append(
            _save(
                out,
                f"{folder}/displacement.png",
                f"Displacement T(x) − x of each control cell in the {top_n} best-ranked genes "
                "(grey labels: genes not selected).",
                lambda t=t: pl.displacement(adata, t, key=key, top_n=top_n, return_fig=True, show=False),
                dpi,
            )
        )
        if groupby is not None:
            page.figures.append(
                _save(
                    out,
                    f"{folder}/response.png",
                    f"Response of the control cells by {groupby}: norm of each moved cell's displacement, "
                    "and the share of cells moved.",
                    lambda t=t: pl.response(adata, t, key=key, groupby=groupby, return_fig=True, show=False),
                    dpi,
                )
            )
        if t in has_history:
            page.figures.append(
                _save(
                    out,
                    f"{folder}/training.png",
                    "Training: λ, genes moved per cell, sliced-Wasserstein error and the λ search.",
                    lambda t=t: pl.training(adata, t, key=key, return_fig=True, show=False),
                    dpi,
                )
            )
        pages.append(page)

    index = out / "index.html"
    index.write_text(
        render(
            out,
            title=title or "scsparseot report",
            key=key,
            source_file=source_file,
            params=params,
            warnings=messages,
            notes=_notes(summary, genes) + _composition_notes(summary),
            summary=summary,
            overview=overview,
            pages=pages,
            top_n=top_n,
            groupby=groupby,
            embed_images=embed_images,
        ),
        encoding="utf-8",
    )
    logger.info("wrote the report of %d target(s) to %s", len(pages), out)
    return index
