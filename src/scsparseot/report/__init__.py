"""A per-drug report of a fit, for sharing: TSV tables, PNG figures and one HTML page."""

from ._writer import write_report

__all__ = ["write_report"]
