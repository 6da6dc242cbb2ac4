"""Device resolution and seeding helpers."""

from __future__ import annotations

import threading
import zlib
from contextlib import contextmanager
from typing import TYPE_CHECKING, get_args

import numpy as np
import torch

from .._types import DeviceName

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["named_seed", "resolve_device", "seeded_torch"]

_GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def seeded_torch(seed: int | None, device: torch.device | None = None) -> Iterator[None]:
    """Run a block on torch's global RNG seeded with ``seed``, leaving the caller's RNG unmoved.

    Network initialisation draws from the global RNG; the lock keeps fits running in threads
    (``executor=ThreadPoolExecutor(...)``) from drawing each other's numbers. ``seed=None`` only
    isolates the block (for building networks whose weights are loaded right after).
    """
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices):
        if seed is not None:
            torch.manual_seed(int(seed))
        yield


def resolve_device(device: DeviceName | str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a :class:`torch.device`.

    ``"auto"`` picks CUDA when available, else the CPU. Asking for CUDA where there is none raises
    a :class:`ValueError` that says so.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        msg = f"device must be a string such as 'auto', 'cpu' or 'cuda', got {type(device).__name__}."
        raise TypeError(msg)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind = device.split(":", 1)[0]
    if kind not in get_args(DeviceName) or device == "auto":
        msg = f"Unsupported device {device!r}; use one of 'auto', 'cpu', 'cuda' or 'cuda:N'."
        raise ValueError(msg)
    if kind == "cuda" and not torch.cuda.is_available():
        msg = f"device={device!r} was requested but PyTorch sees no CUDA GPU; use device='cpu' or 'auto'."
        raise ValueError(msg)
    try:
        return torch.device(device)
    except RuntimeError as err:
        msg = f"Invalid device string {device!r}: {err}"
        raise ValueError(msg) from err


def named_seed(seed: int, name: str) -> int:
    """An integer seed for the stream called ``name``, derived from ``seed``.

    Unlike positions in a list of targets, names do not change when targets are reordered, added
    or fitted on other workers, so each target's fit depends only on ``seed`` and its own name.

    Examples
    --------
    >>> named_seed(0, "drug_1") == named_seed(0, "drug_1") != named_seed(0, "drug_2")
    True
    """
    ss = np.random.SeedSequence([int(seed), zlib.crc32(str(name).encode())])
    return int(ss.generate_state(1, dtype=np.uint32)[0])
