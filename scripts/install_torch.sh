#!/usr/bin/env bash
# Install PyTorch into the active Python environment, choosing the build for this machine; used by
# scripts/dev.sh and tested on its own (tests/test_install_torch.py, with stub `python`, `nvidia-smi`
# and `uname`). Installs with `python` from PATH: activate the venv first.
#   - torch already importable: leave it alone (whatever build it is).
#   - an NVIDIA driver is present (`nvidia-smi` runs): plain `torch` from the default registry (CUDA build).
#   - otherwise: the CPU wheel index first, with a short timeout and few retries, so that a plain
#     `pip install torch` never pulls a multi-GB CUDA build. If that index cannot be reached:
#       * macOS, Windows (Git Bash/MSYS/Cygwin) and Linux aarch64/arm64, where the default registry's
#         torch wheel is a CPU build: the pinned torch==$SCSPARSEOT_TORCH_PIN from the default registry;
#       * elsewhere (Linux x86_64: PyPI's wheel there is the CUDA build): torch==$pin+cpu, which only a
#         registry that serves CPU builds has (a mirror of the CPU index, a find-links folder of your pip
#         configuration); PyPI has no such version, so this never downloads a CUDA build. If it is not
#         there, stop and say how to install the CPU build by hand, or how to accept the CUDA build.
# SCSPARSEOT_TORCH picks the route by hand: `auto` (default, as above), `cpu` (as above, even where an
# NVIDIA driver is present) or `cuda` (plain `torch` from the default registry: the CUDA build on Linux
# x86_64, also where `nvidia-smi` is missing, e.g. in a container).
# Prints one line saying which route it took; on failure, one line on stderr saying what to do.
set -euo pipefail

pin=${SCSPARSEOT_TORCH_PIN:-2.13.0}
mode=${SCSPARSEOT_TORCH:-auto}
cpu_index=https://download.pytorch.org/whl/cpu

case "$mode" in
  auto | cpu | cuda) ;;
  *)
    echo "torch: SCSPARSEOT_TORCH=$mode is not one of auto, cpu, cuda; nothing was installed" >&2
    exit 2
    ;;
esac

if python -c "import torch" >/dev/null 2>&1; then
  echo "torch: already importable, left as it is"
  exit 0
fi
if [ "$mode" = cuda ]; then
  python -m pip install -q torch
  echo "torch: SCSPARSEOT_TORCH=cuda, installed torch from the default registry (the CUDA build on Linux x86_64)"
  exit 0
fi
if [ "$mode" = auto ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  python -m pip install -q torch
  echo "torch: NVIDIA driver found, installed torch from the default registry (CUDA build)"
  exit 0
fi
if python -m pip install -q --index-url "$cpu_index" --timeout 20 --retries 2 torch; then
  echo "torch: no NVIDIA driver, installed the CPU build with the index $cpu_index (pip also reads any find-links of your pip configuration)"
  exit 0
fi

system=$(uname -s 2>/dev/null || echo unknown)
machine=$(uname -m 2>/dev/null || echo unknown)
case "$system/$machine" in
  Darwin/* | MINGW*/* | MSYS*/* | CYGWIN*/* | Windows*/* | Linux/aarch64 | Linux/arm64)
    python -m pip install -q "torch==$pin"
    echo "torch: $cpu_index not reachable, installed torch==$pin from the default registry (a CPU build on $system $machine)"
    ;;
  *)
    # pip's "no such version" (no matching distribution, or a conflict with a constraint) is the
    # expected answer from PyPI and only noise here; any other error is shown.
    if err=$(python -m pip install -q "torch==$pin+cpu" 2>&1 >/dev/null); then
      echo "torch: $cpu_index not reachable, installed torch==$pin+cpu, a CPU build your default registry serves"
    else
      case "$err" in
        *"No matching distribution"* | *ResolutionImpossible* | "") ;;
        *) printf '%s\n' "$err" >&2 ;;
      esac
      echo "torch: $cpu_index not reachable and the default registry has no CPU build of torch $pin for $system $machine (PyPI's torch for Linux x86_64 is the multi-GB CUDA build), so nothing was installed: install the CPU build by hand with \`python -m pip install torch --index-url $cpu_index\`, or accept the CUDA build with SCSPARSEOT_TORCH=cuda" >&2
      exit 1
    fi
    ;;
esac
