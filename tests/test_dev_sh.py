"""``scripts/dev.sh`` checks the interpreter before creating the venv, and runs in both venv layouts.

A stub ``python3`` on ``PATH`` reports the version a test asks for, answers the ``venv``/``ensurepip``
import check, and "creates" a venv by copying a prepared folder: ``bin/`` (Linux, macOS) or
``Scripts/`` (a Windows Python under Git Bash) with an ``activate`` script and stub ``python`` and
``scsparseot`` executables. Every stub records its arguments, so each test sees which calls were made,
in order; nothing is installed and no network is used.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_install_torch import read_calls

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "dev.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None or sys.platform == "win32", reason="needs bash and /bin/sh")

# Each call appends "<name>", its arguments, then "--", one per line.
PYTHON3_STUB = """#!/bin/sh
{ echo python3; for a in "$@"; do echo "$a"; done; echo "--"; } >> "$LOG"
case "$1 $2" in
  "-c import sys"*) [ -n "$PY_VERSION" ] || exit 1; echo "$PY_VERSION" ;;
  "-c import venv"*) exit "$VENV_IMPORT_RC" ;;
  "-m venv")
    if [ "$VENV_RC" != 0 ]; then mkdir -p "$3/bin" && : > "$3/bin/python"; exit "$VENV_RC"; fi
    cp -R "$VENV_TEMPLATE" "$3" ;;
  *) exit 3 ;;
esac
"""
# The venv's python: `-c "import torch"` exits 0 (so install_torch.sh leaves torch alone), `-m pip`
# exits $VENV_PIP_RC; `scsparseot` exits 0.
VENV_PYTHON_STUB = """#!/bin/sh
{ echo venv-python; for a in "$@"; do echo "$a"; done; echo "--"; } >> "$LOG"
if [ "$1 $2" = "-m pip" ]; then exit "$VENV_PIP_RC"; fi
exit 0
"""
SCSPARSEOT_STUB = """#!/bin/sh
{ echo scsparseot; for a in "$@"; do echo "$a"; done; echo "--"; } >> "$LOG"
"""


def _stub(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _run(
    tmp_path: Path,
    *args: str,
    version: str = "3.11",
    venv_import_rc: int = 0,
    venv_rc: int = 0,
    venv_pip_rc: int = 0,
    layout: str = "bin",
    python: str | None = None,
    existing_venv: bool = False,
) -> tuple[subprocess.CompletedProcess, list[list[str]], Path]:
    bin_dir = tmp_path / "stubs"
    bin_dir.mkdir()
    _stub(bin_dir / "python3", PYTHON3_STUB)
    venv = tmp_path / "venv"
    # what `python -m venv` makes, with the activate script pointing at the venv's final place
    template = tmp_path / "template"
    (template / layout).mkdir(parents=True)
    (template / layout / "activate").write_text(
        f'VIRTUAL_ENV="{venv}"; PATH="{venv / layout}:$PATH"; export VIRTUAL_ENV PATH\n'
    )
    _stub(template / layout / "python", VENV_PYTHON_STUB)
    if layout == "Scripts":
        _stub(template / layout / "python.exe", VENV_PYTHON_STUB)
    _stub(template / layout / "scsparseot", SCSPARSEOT_STUB)
    if existing_venv:
        shutil.copytree(template, venv)
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",  # the stub python3 first; coreutils for dirname, cp, ...
        "LOG": str(log),
        "PY_VERSION": version,
        "VENV_IMPORT_RC": str(venv_import_rc),
        "VENV_RC": str(venv_rc),
        "VENV_PIP_RC": str(venv_pip_rc),
        "VENV_TEMPLATE": str(template),
        "SCSPARSEOT_VENV": str(venv),
    }
    if python is not None:
        env["PYTHON"] = python
    proc = subprocess.run(
        [BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    calls = read_calls(log)
    return proc, calls, venv


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


VERSION_CHECK = ["python3", "-c", 'import sys; print("%d.%d" % sys.version_info[:2])']
VENV_CHECK = ["python3", "-c", "import venv, ensurepip"]


@pytest.mark.parametrize("version", ["3.9", "2.7", "3.1"])
def test_too_old_python_stops_before_the_venv(tmp_path, version):
    proc, calls, venv = _run(tmp_path, "demo", version=version)
    assert proc.returncode == 1
    assert calls == [VERSION_CHECK]  # nothing created, nothing installed
    assert not venv.exists()
    line = _one_line(proc)
    assert f"scsparseot needs Python >= 3.10; found {version} at {tmp_path / 'stubs' / 'python3'}." in line
    assert "brew install python@3.11" in line
    assert "apt install python3.11 python3.11-venv" in line
    assert line.endswith("rerun with PYTHON=python3.11 bash scripts/dev.sh demo")


def test_an_interpreter_without_a_version_is_rejected(tmp_path):
    proc, calls, venv = _run(tmp_path, "test", version="")
    assert proc.returncode == 1
    assert calls == [VERSION_CHECK]
    assert not venv.exists()
    assert "does not report its version" in _one_line(proc)
    assert _one_line(proc).endswith("bash scripts/dev.sh test")


def test_missing_interpreter_names_the_fix(tmp_path):
    missing = str(tmp_path / "nowhere" / "python3.12")
    proc, calls, venv = _run(tmp_path, "demo", python=missing)
    assert proc.returncode == 1
    assert calls == []
    assert not venv.exists()
    line = _one_line(proc)
    assert f"no '{missing}' found on PATH" in line
    assert "PYTHON=python3.11 bash scripts/dev.sh demo" in line


def test_missing_venv_module_names_the_debian_package(tmp_path):
    proc, calls, venv = _run(tmp_path, "demo", version="3.12", venv_import_rc=1)
    assert proc.returncode == 1
    assert calls == [VERSION_CHECK, VENV_CHECK]  # never tries `python -m venv`
    assert not venv.exists()
    line = _one_line(proc)
    assert "no venv/ensurepip module" in line
    assert "apt install python3-venv (or python3.12-venv)" in line


def test_a_failed_venv_is_removed(tmp_path):
    # Debian without python3-venv: `python -m venv` leaves a venv without pip; the next run must not
    # take it for a working one
    proc, calls, venv = _run(tmp_path, "demo", venv_rc=1)
    assert proc.returncode == 1
    assert calls[-1] == ["python3", "-m", "venv", str(venv)]
    assert not venv.exists()
    assert "apt install python3-venv (or python3.11-venv)" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("version", ["3.10", "3.13", "4.0"])
@pytest.mark.parametrize("layout", ["bin", "Scripts"])
def test_demo_sets_up_the_venv_and_runs_the_demo(tmp_path, version, layout):
    proc, calls, venv = _run(tmp_path, "demo", "--quick", version=version, layout=layout)
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        VERSION_CHECK,
        VENV_CHECK,
        ["python3", "-m", "venv", str(venv)],
        ["venv-python", "-m", "pip", "--version"],
        ["venv-python", "-c", "import torch"],  # scripts/install_torch.sh, with the venv's python
        ["venv-python", "-m", "pip", "install", "-q", "-e", "."],
        ["scsparseot", "demo", "--quick"],
    ]
    assert proc.stdout.strip() == "torch: already importable, left as it is"


def test_test_installs_the_test_extras_and_runs_pytest(tmp_path):
    proc, calls, _ = _run(tmp_path, "test", "-m", "not slow")
    assert proc.returncode == 0, proc.stderr
    assert calls[-2:] == [
        ["venv-python", "-m", "pip", "install", "-q", "-e", ".[test]"],
        ["venv-python", "-m", "pytest", "-m", "not slow"],
    ]


@pytest.mark.parametrize("layout", ["bin", "Scripts"])
def test_an_existing_venv_is_used_as_it_is(tmp_path, layout):
    # the interpreter check is for creating the venv only
    proc, calls, _ = _run(tmp_path, "demo", version="3.9", layout=layout, existing_venv=True)
    assert proc.returncode == 0, proc.stderr
    assert not any(c[0] == "python3" for c in calls)
    assert calls[-1] == ["scsparseot", "demo"]


def test_a_venv_without_pip_says_to_remove_it(tmp_path):
    proc, calls, venv = _run(tmp_path, "demo", existing_venv=True, venv_pip_rc=1)
    assert proc.returncode == 1
    assert calls == [["venv-python", "-m", "pip", "--version"]]
    assert f"rm -rf {venv}" in _one_line(proc)


def test_usage(tmp_path):
    proc, calls, _ = _run(tmp_path, "install")
    assert proc.returncode == 2
    assert calls == []
    assert "usage: bash scripts/dev.sh demo|test" in proc.stderr
