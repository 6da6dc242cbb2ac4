"""The tutorials: every notebook runs top to bottom in its fast mode, and keeps its stored outputs.

* Each notebook in tutorials/ is executed by nbclient in a fresh kernel of *this* interpreter (the
  venv's python, not whatever ``python3`` kernel is installed for the user), in tutorials/ (where the
  stand-in data files are), with ``SCSPARSEOT_FAST=1`` (the same data, fits and checks, with short
  training of the state networks; each tutorial prints a line saying so) and one torch/BLAS thread:
  the fits are small, and more threads than free cores make OpenMP spin on a shared runner. The kernel
  draws figures with its inline backend (``MPLBACKEND`` is removed from its environment). The notebooks
  assert their own results against the planted truth, so a failing check fails the test. Outputs are
  not saved. The optional real-data paths (``SCSPARSEOT_4I``, ``SCSPARSEOT_SCIPLEX3``) are unset, so the
  shipped stand-ins (tutorials/data/) are read through ``sso.datasets.fouri`` / ``sso.datasets.sciplex3``.
  About a minute per notebook on one core; ``-m "not slow"`` or ``-m "not tutorials"`` skips them.
* The notebooks are stored with the outputs of a full run (``SCSPARSEOT_FAST`` unset), which the docs
  and GitHub show: every code cell must have been executed and each notebook must hold a figure, so
  that stored outputs cannot silently go missing, and no output may show a local path.
* The stand-in files load through their readers with the published layout, and
  tutorials/data/make_data.py reproduces them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import scsparseot as sso

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
DATA = TUTORIALS / "data"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
TIMEOUT = 600  # seconds per cell
MAX_BYTES = 1_500_000  # a stored notebook, outputs included
LOCAL_PATH = re.compile(r"(/work/|/tmp/|/home/|/Users/|[A-Z]:\\\\Users|ipykernel_\d+)")

pytestmark = [pytest.mark.tutorials, pytest.mark.slow]


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {ROOT / 'tutorials'}"


def _kernel_manager(kernel_dir: Path):
    """A kernel manager that starts ipykernel in this interpreter, whatever kernels are installed."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec = kernel_dir / "scsparseot-tests"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "scsparseot tests",
                "language": "python",
            }
        )
    )
    return AsyncKernelManager(
        kernel_name="scsparseot-tests", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)])
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    reason = "executing the tutorials needs nbclient and ipykernel: pip install -e '.[test]'"
    pytest.importorskip("ipykernel", reason=reason)
    pytest.importorskip("nbclient", reason=reason)
    import nbformat
    from nbclient import NotebookClient

    # the kernel inherits this environment
    monkeypatch.setenv("SCSPARSEOT_FAST", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's path-migration warning
    for name in ("MPLBACKEND", "SCSPARSEOT_4I", "SCSPARSEOT_SCIPLEX3"):
        monkeypatch.delenv(name, raising=False)

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        km=_kernel_manager(tmp_path / "kernels"),
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(TUTORIALS)}},  # the kernel's working directory: data/ is there
    )
    # raises CellExecutionError (the cell and its traceback) on the first error; cleanup_kc: shut the
    # kernel down and close its sockets, which nbclient leaves open for a kernel manager it was given
    client.execute(cleanup_kc=True)


# ---------------------------------------------------------------------------- stored outputs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_outputs_stored(path: Path):
    """The notebook is stored executed (a full run): every code cell ran, a figure is shown, no local paths."""
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    not_run = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not not_run, f"{path.name}: code cells {not_run} have no stored execution; execute it in full mode"
    counts = [c["execution_count"] for c in code]
    assert counts == sorted(counts), f"{path.name}: cells were run out of order ({counts})"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} stores no figure"
    assert not [o for o in outputs if o.get("output_type") == "error"], f"{path.name} stores an error"
    text = json.dumps(outputs)
    assert "FAST mode" not in text, f"{path.name}: the stored outputs come from a FAST run"
    found = LOCAL_PATH.findall(text)
    assert not found, f"{path.name}: outputs show local paths {sorted(set(found))}"
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"


# ---------------------------------------------------------------------------- stand-in data


def _make_data():
    spec = importlib.util.spec_from_file_location("tutorial_make_data", DATA / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fouri_standin_layout():
    adata = sso.datasets.fouri(DATA / "4i_standin.h5ad")
    assert adata.n_vars == 48
    assert all(re.match(r"^(intensity|morphology)-[A-Za-z]+-\S+$", n) for n in adata.var_names)
    assert set(adata.obs["drug"].astype(str)) == {
        "control",
        "cisplatin",
        "ixazomib",
        "melphalan",
        "sorafenib",
    }
    assert "SYNTHETIC" in adata.uns["description"]
    planted = adata.uns["planted_features"]
    assert set(planted) == {"cisplatin", "ixazomib", "melphalan", "sorafenib"}
    assert all(set(v) <= set(adata.var_names) for v in planted.values())
    assert (DATA / "4i_standin.h5ad").stat().st_size < 1_000_000


def test_sciplex3_standin_layout():
    adata = sso.datasets.sciplex3(DATA / "sciplex3_standin.h5ad")
    assert set(adata.obs["cell_type"].astype(str)) == {"A549", "K562", "MCF7"}
    assert set(adata.obs["drug"].astype(str)) == {"control", "trametinib", "dexamethasone"}
    for line in ("A549", "K562", "MCF7"):
        one = sso.datasets.sciplex3(DATA / "sciplex3_standin.h5ad", cell_type=line)
        assert (one.obs["drug"] == "control").any()
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    assert x.min() >= 0  # log-normalised expression
    assert x.max() < 20
    assert "REAL PBMC" in adata.uns["description"]
    assert set(adata.uns["planted_genes"]["trametinib"]) <= set(adata.var_names)
    assert (DATA / "sciplex3_standin.h5ad").stat().st_size < 1_000_000


@pytest.mark.parametrize(
    ("maker", "name"), [("make_fouri", "4i_standin.h5ad"), ("make_sciplex3", "sciplex3_standin.h5ad")]
)
def test_make_data_reproduces_standins(maker: str, name: str):
    import anndata as ad

    made = getattr(_make_data(), maker)()
    shipped = ad.read_h5ad(DATA / name)
    assert made.shape == shipped.shape
    assert list(made.var_names) == list(shipped.var_names)
    assert list(made.obs_names) == list(shipped.obs_names)
    for col in shipped.obs.columns:
        assert (
            made.obs[col].astype(str).value_counts().to_dict()
            == shipped.obs[col].astype(str).value_counts().to_dict()
        )
    a = made.X.toarray() if hasattr(made.X, "toarray") else np.asarray(made.X)
    b = shipped.X.toarray() if hasattr(shipped.X, "toarray") else np.asarray(shipped.X)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-3)
