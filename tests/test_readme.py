"""The README's and the docs landing page's Python blocks run as pasted, and show what they say.

Each page's ```` ```python ```` blocks are run in order in one namespace (one torch/BLAS thread),
as a reader pasting them into a notebook would; the checks after them read the namespace.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytestmark = pytest.mark.slow


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def run_page(page: Path) -> dict:
    import matplotlib.pyplot as plt
    import torch

    namespace: dict = {"__name__": "__readme__"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i, code in enumerate(blocks(page)):
            exec(compile(code, f"{page.name}[python block {i}]", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
        plt.close("all")
    return namespace


def test_pages_have_python_blocks():
    assert len(blocks(ROOT / "README.md")) >= 2
    assert blocks(ROOT / "docs" / "index.md")


def test_readme_blocks_run_and_find_the_planted_genes():
    ns = run_page(ROOT / "README.md")
    adata = ns["adata"]
    # the quickstart's gene table: drug_1's planted genes, few others
    called = set(ns["genes"]["gene"])
    planted = set(adata.uns["true_genes"]["drug_1"])
    assert len(called & planted) / len(planted) >= 0.9
    assert len(called & planted) / len(called) >= 0.8
    assert {"log_fc", "p_value", "adj_p_value"} <= set(ns["genes"].columns)
    assert ns["moved"].shape == (5, adata.n_vars)
    assert ns["cells"]["response"].notna().all()
    # the second block refitted with the annotation and the wells: across replicates, per type
    summary = ns["sso"].get.summary(adata)
    assert (summary["test_level"] == "replicates").all()
    assert set(ns["sso"].get.composition(adata)["state"]) == {"T", "B", "mono"}


def test_docs_landing_page_blocks_run():
    ns = run_page(ROOT / "docs" / "index.md")
    assert "sparse_ot" in ns["adata"].uns
