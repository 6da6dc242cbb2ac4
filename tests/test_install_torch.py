"""``scripts/install_torch.sh`` picks the right PyTorch build, checked without downloading anything.

The script runs with ``PATH`` holding only stub ``python``, ``nvidia-smi`` and ``uname`` executables
that record their arguments (``uname`` reports the platform a test asks for), so each test sees
exactly which ``pip install`` calls were made, in order.
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
CPU_PINNED_ROUTE = ["-m", "pip", "install", "-q", "torch==2.13.0+cpu"]
GPU_ROUTE = ["-m", "pip", "install", "-q", "torch"]
IMPORT_CHECK = ["-c", "import torch"]

pytestmark = pytest.mark.skipif(BASH is None or sys.platform == "win32", reason="needs bash and /bin/sh")

# `python -c ...` exits $IMPORT_RC; `python -m pip ...` fails, printing $PIP_STDERR on stderr, when
# one of its arguments is one of the space-separated words of $PIP_FAIL_ON (always when a word is "*").
# Every call appends its arguments, one per line, then "--".
PYTHON_STUB = """#!/bin/sh
for a in "$@"; do echo "$a" >> "$LOG"; done
echo "--" >> "$LOG"
if [ "$1" = "-c" ]; then exit "$IMPORT_RC"; fi
set -f
for a in "$@"; do
  for f in $PIP_FAIL_ON; do
    if [ "$f" = "*" ] || [ "$a" = "$f" ]; then
      if [ -n "$PIP_STDERR" ]; then echo "$PIP_STDERR" >&2; fi
      exit 1
    fi
  done
done
exit 0
"""
NVIDIA_SMI_STUB = """#!/bin/sh
echo "nvidia-smi" >> "$LOG"
echo "--" >> "$LOG"
exit "$NVIDIA_SMI_RC"
"""
UNAME_STUB = """#!/bin/sh
if [ "$1" = "-m" ]; then echo "$UNAME_M"; else echo "$UNAME_S"; fi
"""
LINUX_X86 = ("Linux", "x86_64")
# platforms where the default registry's (PyPI's) torch wheel is a CPU build
CPU_WHEEL_PLATFORMS = [
    ("Darwin", "arm64"),
    ("Darwin", "x86_64"),
    ("Linux", "aarch64"),
    ("MINGW64_NT-10.0-22631", "x86_64"),
    ("MSYS_NT-10.0-19045", "x86_64"),
]


def _run(
    tmp_path: Path,
    *,
    torch_importable: bool = False,
    nvidia_smi: int | None = None,
    pip_fail_on: str = "",
    pip_stderr: str = "",
    platform: tuple[str, str] = LINUX_X86,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run the script with stubs; ``nvidia_smi`` is the stub's exit status, None for no stub."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {"python": PYTHON_STUB, "uname": UNAME_STUB}
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
        "PIP_STDERR": pip_stderr,
        "UNAME_S": platform[0],
        "UNAME_M": platform[1],
        **(extra_env or {}),
    }
    proc = subprocess.run(
        [BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls = read_calls(log)
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


def _platform_id(platform: tuple[str, str]) -> str:
    return f"{platform[0].split('_')[0]}-{platform[1]}"


@pytest.mark.parametrize("platform", CPU_WHEEL_PLATFORMS, ids=_platform_id)
def test_unreachable_cpu_index_falls_back_to_the_pinned_version(tmp_path, platform):
    # there, the default registry's torch is a CPU build: the pinned version is a safe fall-back
    proc, calls = _run(tmp_path, pip_fail_on=CPU_INDEX, platform=platform)
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK, CPU_ROUTE, PINNED_ROUTE]
    assert "torch==2.13.0 from the default registry" in _route(proc)


@pytest.mark.parametrize("platform", [CPU_WHEEL_PLATFORMS[0], LINUX_X86], ids=_platform_id)
def test_fails_when_nothing_installs(tmp_path, platform):
    proc, calls = _run(tmp_path, pip_fail_on="*", platform=platform)
    assert proc.returncode != 0
    fallback = CPU_PINNED_ROUTE if platform == LINUX_X86 else PINNED_ROUTE
    assert calls == [IMPORT_CHECK, CPU_ROUTE, fallback]
    assert proc.stdout == ""  # no route line claims an install that did not happen


def test_linux_x86_64_never_falls_back_to_the_cuda_build(tmp_path):
    # PyPI's torch for Linux x86_64 is the multi-GB CUDA build, and PyPI has no torch==X+cpu
    proc, calls = _run(tmp_path, pip_fail_on=f"{CPU_INDEX} torch==2.13.0+cpu")
    assert proc.returncode == 1
    assert calls == [IMPORT_CHECK, CPU_ROUTE, CPU_PINNED_ROUTE]
    installs = [c for c in calls if c[:3] == ["-m", "pip", "install"]]
    assert not any(c[-1] in ("torch", "torch==2.13.0") and CPU_INDEX not in c for c in installs)
    assert proc.stdout == ""
    message = proc.stderr.strip().splitlines()
    assert len(message) == 1, proc.stderr  # one line that says what to do
    assert "nothing was installed" in message[0]
    assert f"python -m pip install torch --index-url {CPU_INDEX}" in message[0]
    assert "SCSPARSEOT_TORCH=cuda" in message[0]


def test_linux_x86_64_takes_a_cpu_build_the_default_registry_serves(tmp_path):
    # e.g. a find-links folder or a mirror of the CPU index in the pip configuration
    proc, calls = _run(tmp_path, pip_fail_on=CPU_INDEX)
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK, CPU_ROUTE, CPU_PINNED_ROUTE]
    assert "torch==2.13.0+cpu" in _route(proc)


@pytest.mark.parametrize(
    ("pip_stderr", "shown"),
    [
        ("ERROR: No matching distribution found for torch==2.13.0+cpu", False),
        ("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/", False),
        ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device", True),
    ],
    ids=["no-such-version", "constraint-conflict", "other-error"],
)
def test_only_unexpected_errors_of_the_cpu_build_probe_are_shown(tmp_path, pip_stderr, shown):
    proc, _ = _run(tmp_path, pip_fail_on=f"{CPU_INDEX} torch==2.13.0+cpu", pip_stderr=pip_stderr)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    # the CPU-index attempt's error always shows; the probe's only when it is not "no such version"
    assert lines.count(pip_stderr) == (2 if shown else 1)
    assert "nothing was installed" in lines[-1]


def test_the_pin_can_be_changed(tmp_path):
    proc, calls = _run(tmp_path, pip_fail_on=CPU_INDEX, extra_env={"SCSPARSEOT_TORCH_PIN": "2.5.1"})
    assert proc.returncode == 0, proc.stderr
    assert calls[-1] == ["-m", "pip", "install", "-q", "torch==2.5.1+cpu"]


@pytest.mark.parametrize("nvidia_smi", [None, 0], ids=["no-nvidia-smi", "nvidia-smi"])
def test_opt_in_to_the_cuda_build(tmp_path, nvidia_smi):
    proc, calls = _run(tmp_path, nvidia_smi=nvidia_smi, extra_env={"SCSPARSEOT_TORCH": "cuda"})
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK, GPU_ROUTE]  # straight to the default registry, no CPU index
    assert "SCSPARSEOT_TORCH=cuda" in _route(proc)


def test_cpu_mode_ignores_the_nvidia_driver(tmp_path):
    proc, calls = _run(tmp_path, nvidia_smi=0, extra_env={"SCSPARSEOT_TORCH": "cpu"})
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK, CPU_ROUTE]
    assert CPU_INDEX in _route(proc)


def test_opt_in_leaves_an_importable_torch_alone(tmp_path):
    proc, calls = _run(tmp_path, torch_importable=True, extra_env={"SCSPARSEOT_TORCH": "cuda"})
    assert proc.returncode == 0, proc.stderr
    assert calls == [IMPORT_CHECK]
    assert "already importable" in _route(proc)


def test_an_unknown_mode_installs_nothing(tmp_path):
    proc, calls = _run(tmp_path, extra_env={"SCSPARSEOT_TORCH": "rocm"})
    assert proc.returncode == 2
    assert calls == []
    assert "auto, cpu, cuda" in proc.stderr


def test_dev_sh_uses_the_script_before_installing_the_package():
    text = (ROOT / "scripts" / "dev.sh").read_text()
    assert "torch==" not in text  # the choice of build lives in install_torch.sh only
    assert 0 <= text.index("bash scripts/install_torch.sh") < text.index('pip install -q -e ".')


def read_calls(log: Path) -> list[list[str]]:
    """The argument lists the stubs logged, one per call (calls separated by ``--`` lines)."""
    calls: list[list[str]] = []
    current: list[str] = []
    for line in log.read_text().splitlines() if log.exists() else []:
        if line == "--":
            calls.append(current)
            current = []
        else:
            current.append(line)
    return calls
