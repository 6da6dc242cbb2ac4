"""``scripts/install_torch.sh`` picks the right PyTorch build, checked without downloading anything.

The script runs with ``PATH`` holding only stub ``python`` and ``nvidia-smi`` executables that
record their arguments, so each test sees exactly which ``pip install`` calls were made, in order.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install_torch.sh"
BASH = shutil.which("bash")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_ROUTE = [
    "-m",
    "pip",
    "install",
    "-q",
    "--index-url",
    CPU_INDEX,
    "--timeout",
    "20",
    "--retries",
    "2",
    "torch",
]
PINNED_ROUTE = ["-m", "pip", "install", "-q", "torch==2.13.0"]
GPU_ROUTE = ["-m", "pip", "install", "-q", "torch"]
IMPORT_CHECK = ["-c", "import torch"]

pytestmark = pytest.mark.skipif(BASH is None or sys.platform == "win32", reason="needs bash and /bin/sh")

# `python -c ...` exits $IMPORT_RC; `python -m pip ...` fails when its arguments contain $PIP_FAIL_ON
# (or always when that is "*"). Every call appends its arguments, one per line, then "--".
PYTHON_STUB = """#!/bin/sh
for a in "$@"; do echo "$a" >> "$LOG"; done
echo "--" >> "$LOG"
if [ "$1" = "-c" ]; then exit "$IMPORT_RC"; fi
for a in "$@"; do
  if [ "$PIP_FAIL_ON" = "*" ] || [ "$a" = "$PIP_FAIL_ON" ]; then exit 1; fi
done
exit 0
"""
NVIDIA_SMI_STUB = """#!/bin/sh
echo "nvidia-smi" >> "$LOG"
echo "--" >> "$LOG"
exit "$NVIDIA_SMI_RC"
"""


def _run(
    tmp_path: Path,
    *,
    torch_importable: bool = False,
    nvidia_smi: int | None = None,
    pip_fail_on: str = "",
) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run the script with stubs; ``nvidia_smi`` is the stub's exit status, None for no stub."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {"python": PYTHON_STUB}
    if nvidia_smi is not None:
        stubs["nvidia-smi"] = NVIDIA_SMI_STUB
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        "PATH": str(bin_dir),  # no real python, pip or nvidia-smi can be reached
        "LOG": str(log),
        "IMPORT_RC": "0" if torch_importable else "1",
        "NVIDIA_SMI_RC": str(nvidia_smi or 0),
        "PIP_FAIL_ON": pip_fail_on,
    }
    proc = subprocess.run(
        [BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls: list[list[str]] = []
    current: list[str] = []
    for line in log.read_text().splitlines() if log.exists() else []:
        if line == "--":
            calls.append(current)
            current = []
        else:
            current.append(line)
    return proc, calls


def _route(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # one line says which route was taken
    return lines[0]


def test_importable_torch_is_left_alone(tmp_path):
    proc, calls = _run(tmp_path, torch_importable=True, nvidia_smi=0)
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK]
    assert "already importable" in _route(proc)


def test_nvidia_driver_gets_the_default_registry_build(tmp_path):
    proc, calls = _run(tmp_path, nvidia_smi=0)
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK, ["nvidia-smi"], GPU_ROUTE]
    assert "NVIDIA driver found" in _route(proc)


@pytest.mark.parametrize("nvidia_smi", [None, 9], ids=["no-nvidia-smi", "nvidia-smi-fails"])
def test_without_a_driver_the_cpu_index_comes_first(tmp_path, nvidia_smi):
    proc, calls = _run(tmp_path, nvidia_smi=nvidia_smi)
    assert proc.returncode == 0, proc.stderr
    pip_calls = [c for c in calls if c[:2] == ["-m", "pip"]]
    assert pip_calls == [CPU_ROUTE]  # never the plain registry, which would pull a CUDA build
    assert CPU_INDEX in _route(proc)


def test_unreachable_cpu_index_falls_back_to_the_pinned_version(tmp_path):
    proc, calls = _run(tmp_path, pip_fail_on=CPU_INDEX)
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK, CPU_ROUTE, PINNED_ROUTE]
    assert "torch==2.13.0" in _route(proc)


def test_fails_when_nothing_installs(tmp_path):
    proc, calls = _run(tmp_path, pip_fail_on="*")
    assert proc.returncode != 0
    assert calls == [IMPORT_CHECK, CPU_ROUTE, PINNED_ROUTE]


def test_dev_sh_uses_the_script_before_installing_the_package():
    text = (ROOT / "scripts" / "dev.sh").read_text()
    assert "torch==" not in text  # the choice of build lives in install_torch.sh only
    assert 0 <= text.index("bash scripts/install_torch.sh") < text.index('pip install -q -e ".')
