"""Literal aliases shared across the package."""

from __future__ import annotations

from typing import Literal

PenaltyName = Literal["l1", "stvs", "l0", "k_overlap"]
DeviceName = Literal["auto", "cpu", "cuda"]
SyntheticKind = Literal["gaussian", "paper"]
SyntheticEffect = Literal["shift", "variance", "bimodal"]
MethodName = Literal["sparse_icnn", "conditional", "exact", "translation", "elastic", "rgd"]
