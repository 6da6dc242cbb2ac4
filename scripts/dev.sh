#!/usr/bin/env bash
# One-command set-up and run, on a fresh machine with Python >= 3.10 and pip.
#   bash scripts/dev.sh demo   # create .venv, install scsparseot (+ PyTorch if missing), run the demo
#   bash scripts/dev.sh test   # same set-up with the test extras, then run the test suite
# Extra arguments are passed on (to `scsparseot demo` or to pytest).
# PYTHON picks the interpreter that creates the venv (default python3), SCSPARSEOT_VENV the venv's
# folder (default .venv); SCSPARSEOT_TORCH and SCSPARSEOT_TORCH_PIN go to scripts/install_torch.sh.
#
# Windows: this is a bash script; it runs in Git Bash (a venv with Scripts\ instead of bin/ is
# handled, e.g. `PYTHON=py bash scripts/dev.sh demo`). Without bash, in PowerShell or cmd:
#   py -3.11 -m venv .venv
#   .venv\Scripts\activate
#   pip install torch --index-url https://download.pytorch.org/whl/cpu
#   pip install -e .
#   scsparseot demo
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo | test) ;;
  *) echo "usage: bash scripts/dev.sh demo|test [args...]" >&2; exit 2 ;;
esac

fail() {
  echo "$*" >&2
  exit 1
}

# The venv's scripts folder: bin/ (Linux, macOS, Cygwin) or Scripts/ (a Windows Python, e.g. in Git Bash).
venv_bin() {
  local d
  for d in bin Scripts; do
    if [ -f "$venv/$d/activate" ] && { [ -x "$venv/$d/python" ] || [ -x "$venv/$d/python.exe" ]; }; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

venv=${SCSPARSEOT_VENV:-.venv}
py=${PYTHON:-python3}
rerun="rerun with PYTHON=python3.11 bash scripts/dev.sh $cmd"
case "$(uname -s 2>/dev/null || true)" in
  MINGW* | MSYS* | CYGWIN*) rerun="$rerun (on Windows: PYTHON=py, or the steps at the top of scripts/dev.sh)" ;;
esac

if ! bindir=$(venv_bin); then
  # Check the interpreter before creating the venv, so that a too-old Python or a Debian/Ubuntu
  # Python without its venv package fails with the fix rather than half-way through.
  py_path=$(command -v "$py" 2>/dev/null) \
    || fail "scsparseot needs Python >= 3.10; no '$py' found on PATH. Install Python 3.10 or newer (e.g. from python.org, \`brew install python@3.11\`, \`apt install python3.11 python3.11-venv\`) and $rerun"
  ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || ver=""
  if ! [[ $ver =~ ^([0-9]+)\.([0-9]+)$ ]] \
    || ((10#${BASH_REMATCH[1]} < 3 || (10#${BASH_REMATCH[1]} == 3 && 10#${BASH_REMATCH[2]} < 10))); then
    fail "scsparseot needs Python >= 3.10; found ${ver:-an interpreter that does not report its version} at $py_path. Install a newer Python (e.g. from python.org, \`brew install python@3.11\`, \`apt install python3.11 python3.11-venv\`) and $rerun"
  fi
  venv_fix="apt install python3-venv (or python$ver-venv) on Debian/Ubuntu, or install Python from python.org, then rerun"
  "$py" -c "import venv, ensurepip" >/dev/null 2>&1 \
    || fail "scsparseot: Python $ver at $py_path cannot create virtual environments (no venv/ensurepip module): $venv_fix"
  existed=0
  [ -e "$venv" ] && existed=1
  if ! "$py" -m venv "$venv"; then
    # A failed `python -m venv` leaves a venv without pip behind; remove it (only if it is ours) so
    # that the next run does not mistake it for a working one.
    [ "$existed" = 0 ] && rm -rf "$venv"
    fail "scsparseot: Python $ver at $py_path could not create the virtual environment $venv (see above): $venv_fix"
  fi
  bindir=$(venv_bin) || fail "scsparseot: $py -m venv $venv made no $venv/bin/activate or $venv/Scripts/activate; remove $venv and rerun"
fi
# shellcheck disable=SC1090
. "$venv/$bindir/activate"
python -m pip --version >/dev/null 2>&1 \
  || fail "scsparseot: the venv $venv has no pip (created without ensurepip?): remove it (rm -rf $venv) and rerun"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# PyTorch, if missing: the CUDA build only where an NVIDIA driver is present, otherwise the CPU
# build (never a multi-GB CUDA download); an importable torch is left alone. See the script.
bash scripts/install_torch.sh
extras=""
[ "$cmd" = test ] && extras="[test]"
python -m pip install -q -e ".${extras}"

if [ "$cmd" = demo ]; then
  exec scsparseot demo "$@"
else
  exec python -m pytest "$@"
fi
