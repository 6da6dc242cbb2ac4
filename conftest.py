"""Settings for every test, doctests under src/ included."""

from __future__ import annotations

import matplotlib
import pytest
import torch

matplotlib.use("Agg")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    """One torch thread: the tiny fits in the tests are fastest that way and never oversubscribe CI."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
