"""Every notebook in tutorials/ runs top to bottom in its fast mode, so that the tutorials cannot rot.

Each notebook is executed by nbclient in a fresh kernel of *this* interpreter (the venv's python, not
whatever ``python3`` kernel is installed for the user) with ``SCSPARSEOT_FAST=1`` (a fixed λ, small
networks; each tutorial prints a line saying so) and one torch/BLAS thread: the fits are tiny, and more
threads than free cores make OpenMP spin on a shared runner. The kernel draws figures with its inline
backend (``MPLBACKEND`` is removed from its environment); outputs are not saved. The optional real-data
paths (``SCSPARSEOT_4I``, ``SCSPARSEOT_SCIPLEX3``) are unset, so the synthetic stand-ins run.

About a minute for all of them on one core; ``-m "not slow"`` or ``-m "not tutorials"`` skips them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
TIMEOUT = 600  # seconds per cell

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
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    # raises CellExecutionError (the cell and its traceback) on the first error; cleanup_kc: shut the
    # kernel down and close its sockets, which nbclient leaves open for a kernel manager it was given
    client.execute(cleanup_kc=True)
