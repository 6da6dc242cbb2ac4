"""Reading the input file and checking output paths; :class:`UsageError` for what is wrong with them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["UsageError", "check_out_dir", "read_input"]


class UsageError(Exception):
    """Bad input found by the command line itself (exit status 2)."""


def read_input(path: str, *, backed: bool = False) -> AnnData:
    """The ``.h5ad`` file ``path`` (``backed``: ``X`` stays on disk); :class:`UsageError` if it cannot be read."""
    import anndata as ad

    if not Path(path).is_file():
        msg = f"input file {path!r} does not exist."
        raise UsageError(msg)
    try:
        # backed: X stays on disk and the fit reads the cells it needs from the file
        return ad.read_h5ad(path, backed="r" if backed else None)
    except OSError as err:
        msg = f"cannot read {path!r} as an .h5ad file ({err})."
        raise UsageError(msg) from err


def check_out_dir(*paths: str | None) -> None:
    """Fail before a long fit, not after it, when an output's folder does not exist."""
    for path in paths:
        if path is not None and not Path(path).resolve().parent.is_dir():
            msg = f"the folder of the output {path!r} does not exist; create it first."
            raise UsageError(msg)
