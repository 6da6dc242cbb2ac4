"""Device resolution and seed spawning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scsparseot.core import resolve_device, spawn_seeds


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


def test_spawn_seeds_prefix_stable_and_distinct():
    ten = spawn_seeds(0, 10)
    assert len(ten) == 10
    assert all(isinstance(s, int) for s in ten)
    assert len(set(ten)) == 10
    for n in range(11):
        assert spawn_seeds(0, n) == ten[:n]


def test_spawn_seeds_depend_on_seed_and_match_seed_sequence():
    a, b = spawn_seeds(1, 5), spawn_seeds(2, 5)
    assert a != b
    assert not set(a) & set(b)
    assert spawn_seeds(1, 5) == a  # deterministic
    # the i-th seed is the first uint32 word of the i-th child of SeedSequence(seed)
    child = np.random.SeedSequence(1).spawn(5)[3]
    assert a[3] == int(child.generate_state(1, dtype=np.uint32)[0])


def test_spawn_seeds_usable_as_seeds():
    seeds = spawn_seeds(123, 3)
    assert all(0 <= s < 2**32 for s in seeds)
    draws = [np.random.default_rng(s).normal() for s in seeds]
    assert len(set(draws)) == 3
