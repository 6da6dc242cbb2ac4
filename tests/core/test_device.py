"""Device resolution."""

from __future__ import annotations

import pytest
import torch

from scsparseot.core import resolve_device


def test_auto_matches_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device() == torch.device(expected)


@pytest.mark.parametrize("name", ["cpu", "cpu:0", torch.device("cpu")])
def test_cpu(name):
    out = resolve_device(name)
    assert isinstance(out, torch.device)
    assert out.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_gpu_raises(name):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_with_gpu():
    assert resolve_device("cuda").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda:0")


@pytest.mark.parametrize("name", ["gpu", "CPU", "tpu", "", "auto:0", "cpu:abc", "mps"])
def test_bad_names(name):
    with pytest.raises(ValueError):
        resolve_device(name)


@pytest.mark.parametrize("value", [0, None, 1.5, ["cpu"]])
def test_non_string_type_error(value):
    with pytest.raises(TypeError, match="device must be a string"):
        resolve_device(value)
