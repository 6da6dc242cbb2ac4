"""Datasets: the embedded synthetic default and readers for public files."""

from ._synthetic import synthetic_perturbation

__all__ = ["synthetic_perturbation"]
