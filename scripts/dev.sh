#!/usr/bin/env bash
# One-command set-up and run, on a fresh machine with Python >= 3.10 and pip.
#   bash scripts/dev.sh demo   # create .venv, install scsparseot (+ PyTorch if missing), run the demo
#   bash scripts/dev.sh test   # same set-up with the test extras, then run the test suite
# Extra arguments are passed on (to `scsparseot demo` or to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo | test) ;;
  *) echo "usage: bash scripts/dev.sh demo|test [args...]" >&2; exit 2 ;;
esac

venv=${SCSPARSEOT_VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
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
