"""Datasets: the embedded synthetic default and readers for public files."""

from ._readers import fouri, sciplex3
from ._synthetic import synthetic_perturbation

__all__ = ["fouri", "sciplex3", "synthetic_perturbation"]
