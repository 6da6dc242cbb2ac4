"""The package logger: ``logging.getLogger("scsparseot")`` with a NullHandler, nothing more."""

from __future__ import annotations

import logging

logger = logging.getLogger("scsparseot")
logger.addHandler(logging.NullHandler())
