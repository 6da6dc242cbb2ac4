"""Entry point of the ``scsparseot`` command: parse, run the subcommand, turn errors into exit statuses."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from ._io import UsageError
from ._parser import build_parser

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _message(err: BaseException) -> str:
    # str(KeyError("x")) is "'x'": show the message itself
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scsparseot`` command; returns the exit status."""
    from ..tl._context import failed_target

    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except Exception as err:
        target = failed_target(err)
        if target is not None:
            if args.verbose:  # logged under the command's package name, "scsparseot.cli"
                logging.getLogger(__package__).exception("the fit for %r failed", target)
            print(
                f"error: the fit for {target!r} failed: {type(err).__name__}: {_message(err)}",
                file=sys.stderr,
            )
            return 1
        if isinstance(err, UsageError | KeyError | ValueError | TypeError | FileNotFoundError):
            print(f"error: {_message(err)}", file=sys.stderr)
            return 2
        raise
