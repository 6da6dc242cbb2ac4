#!/usr/bin/env bash
# Install PyTorch into the active Python environment, choosing the build for this machine; used by
# scripts/dev.sh and tested on its own (tests/test_install_torch.py, with stub `python`/`nvidia-smi`).
#   - torch already importable: leave it alone (whatever build it is).
#   - an NVIDIA driver is present (`nvidia-smi` runs): plain `torch` from the default registry (CUDA build).
#   - otherwise: the CPU wheel index first, with a short timeout and few retries, so a plain
#     `pip install torch` never pulls a multi-GB CUDA build; if that index cannot be reached, the
#     pinned torch==$SCSPARSEOT_TORCH_PIN from the default registry.
# Prints one line saying which route it took. Installs with `python` from PATH: activate the venv first.
set -euo pipefail

pin=${SCSPARSEOT_TORCH_PIN:-2.13.0}
cpu_index=https://download.pytorch.org/whl/cpu

if python -c "import torch" >/dev/null 2>&1; then
  echo "torch: already importable, left as it is"
  exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
  python -m pip install -q torch
  echo "torch: NVIDIA driver found, installed torch from the default registry (CUDA build)"
elif python -m pip install -q --index-url "$cpu_index" --timeout 20 --retries 2 torch; then
  echo "torch: no NVIDIA driver, installed the CPU build with the index $cpu_index (pip also reads any find-links of your pip configuration)"
else
  python -m pip install -q "torch==$pin"
  echo "torch: no NVIDIA driver and $cpu_index not reachable, installed torch==$pin from the default registry"
fi
