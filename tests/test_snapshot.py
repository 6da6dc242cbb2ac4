"""Every output of the default, the sparse ICNN and each baseline is what the stored snapshot holds.

The snapshot (``tests/data/snapshot.npz``, written by ``python tests/snapshot.py``) guards
refactoring: a change that moves code without meaning to change results must leave every layer,
``obs`` column, ``varm`` table, ``uns`` entry and getter table as it was (timings aside).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("_snapshot", Path(__file__).parent / "snapshot.py")
snapshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snapshot)


@pytest.fixture(scope="module")
def stored() -> dict[str, np.ndarray]:
    with np.load(snapshot.PATH, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("name", list(snapshot.RUNS))
def test_outputs_match_snapshot(stored: dict[str, np.ndarray], name: str) -> None:
    old = {k: v for k, v in stored.items() if k.startswith(f"{name}/")}
    assert old, f"the snapshot has no run {name!r}; rewrite it with python tests/snapshot.py"
    snapshot.assert_same(old, snapshot.run(name))


def test_core_conditional_matches_snapshot(stored: dict[str, np.ndarray]) -> None:
    old = {k: v for k, v in stored.items() if k.startswith("core/")}
    snapshot.assert_same(old, snapshot.core_run())


def test_assert_same_catches_a_change(stored: dict[str, np.ndarray]) -> None:
    old = {k: v for k, v in stored.items() if k.startswith("exact/")}
    new = dict(old)
    key = next(k for k, v in old.items() if v.dtype.kind == "f" and v.size and np.any(v != 0))
    new[key] = old[key] * 1.001
    with pytest.raises(AssertionError, match=key.replace("/", ".")):
        snapshot.assert_same(old, new)
    with pytest.raises(AssertionError, match="no longer written"):
        snapshot.assert_same(old, {k: v for k, v in old.items() if k != key})
