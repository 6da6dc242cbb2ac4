"""``scsparseot report``, and the report that ``fit --report`` and ``demo --report`` also write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ._io import read_input

if TYPE_CHECKING:
    import argparse

    from anndata import AnnData

__all__ = ["run_report", "write_report_dir"]


def write_report_dir(
    adata: AnnData,
    out: str,
    *,
    key: str,
    groupby: str | None,
    source_file: str | None,
    top_n: int = 20,
    embed_images: bool = True,
) -> None:
    """Write the report of the results under ``key`` to the folder ``out`` and say where it is."""
    from ..report import write_report

    page = write_report(
        adata,
        out,
        key=key,
        groupby=groupby,
        top_n=top_n,
        source_file=None if source_file is None else Path(source_file).name,
        embed_images=embed_images,
    )
    print(f"Wrote the report to {page.parent}/ (open {page})")


def run_report(args: argparse.Namespace) -> int:
    """``scsparseot report``: the report of a results file; returns the exit status."""
    adata = read_input(args.input, backed=True)  # X is not needed
    write_report_dir(
        adata,
        args.out,
        key=args.key,
        groupby=args.groupby,
        source_file=args.input,
        top_n=args.top_n,
        embed_images=not args.link_images,
    )
    return 0
