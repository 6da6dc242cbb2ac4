"""Command line: ``scsparseot fit``, ``scsparseot report`` and ``scsparseot demo``. The only code that prints.

Exit status: 0 when everything worked; 2 for bad arguments or input (a one-line message on stderr,
no traceback); 1 when a fit failed (the message names the drug and the error) or, for ``demo``,
when the genes found do not pass the demo's check.
"""

from ._demo import DEMO, DEMO_MIN_PRECISION, demo_check
from ._io import UsageError
from ._main import main
from ._parser import build_parser

__all__ = ["DEMO", "DEMO_MIN_PRECISION", "UsageError", "build_parser", "demo_check", "main"]
