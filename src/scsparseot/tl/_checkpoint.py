"""Per-target checkpoints: a multi-drug run that stops midway resumes without refitting finished drugs.

Each finished target is written to ``<checkpoint_dir>/<target>.npz`` (arrays and a JSON header, no
pickle) together with a fingerprint of everything its fit depends on (data, settings, seed). A
checkpoint whose fingerprint differs is ignored and overwritten.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from ..core import CellData, DisplacementSummary, map_from_arrays
from ._spec import TargetFit

if TYPE_CHECKING:
    from ._spec import FitSpec

FORMAT_VERSION = 4
_SCALARS = (
    "lam",
    "seconds",
    "n_iters",
    "converged",
    "diverged",
    "reason",
    "responder_fraction",
    "responder_fraction_se",
    "null_design",
)
_SUMMARY_ARRAYS = ("response", "mean", "mean_abs", "support")


def fingerprint(
    x: np.ndarray | CellData, y: np.ndarray | CellData, spec: FitSpec, seed: int, genes: list[str]
) -> str:
    """Hash of the inputs of one target's fit (dense data hash as their raw bytes; others stream)."""
    h = hashlib.sha256()
    for a in (x, y, spec.support_tol):
        if isinstance(a, CellData):
            a.update_hash(h)
        else:
            h.update(np.ascontiguousarray(a).tobytes())
    for f in fields(spec):
        if f.name not in ("support_tol", "num_threads"):
            h.update(f"{f.name}={getattr(spec, f.name)!r};".encode())
    h.update(f"seed={seed};genes={','.join(genes)}".encode())
    return h.hexdigest()


def _path(directory: Path, target: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target)
    digest = hashlib.sha1(target.encode()).hexdigest()[:8]  # keeps distinct labels distinct
    return directory / f"{safe}-{digest}.npz"


def save(directory: str | Path, target: str, fit: TargetFit, key: str) -> Path:
    """Write one target's result."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    disp = fit.displacements
    arrays: dict[str, Any] = {
        "support_tol": fit.support_tol,
        "kept_data": disp.kept.data,
        "kept_indices": disp.kept.indices,
        "kept_indptr": disp.kept.indptr,
        "kept_shape": np.asarray(disp.kept.shape),
        **{name: getattr(disp, name) for name in _SUMMARY_ARRAYS},
    }
    for name in ("selection_frequency", "null_scores", "p_value", "source_states", "target_states"):
        if getattr(fit, name) is not None:
            arrays[name] = getattr(fit, name)
    for table in ("history", "moves"):
        for k, v in getattr(fit, table).items():
            arrays[f"{table}__{k}"] = v
    if fit.map is not None:
        for k, v in fit.map.to_arrays().items():
            arrays[f"map__{k}"] = v
    header = {
        "format_version": FORMAT_VERSION,
        "fingerprint": key,
        "avg_dim": disp.avg_dim,
        "sliced_w": disp.sliced_w,
        **{k: getattr(fit, k) for k in _SCALARS},
    }
    arrays["header"] = np.array(json.dumps(header))
    path = _path(directory, target)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)  # atomic: a run killed while writing leaves no half-written checkpoint
    return path


def load(directory: str | Path, target: str, key: str) -> TargetFit | None:
    """Read one target's result if a checkpoint with the same fingerprint exists."""
    path = _path(Path(directory), target)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        if header.get("format_version") != FORMAT_VERSION or header.get("fingerprint") != key:
            return None
        arrays = {k: data[k] for k in data.files}
    maps = {k.removeprefix("map__"): v for k, v in arrays.items() if k.startswith("map__")}
    kept = sparse.csr_matrix(
        (arrays["kept_data"], arrays["kept_indices"], arrays["kept_indptr"]),
        shape=tuple(int(v) for v in arrays["kept_shape"]),
    )
    disp = DisplacementSummary(
        kept=kept,
        avg_dim=float(header["avg_dim"]),
        sliced_w=float(header["sliced_w"]),
        **{name: arrays[name] for name in _SUMMARY_ARRAYS},
    )
    return TargetFit(
        displacements=disp,
        support_tol=arrays["support_tol"],
        history={k.removeprefix("history__"): v for k, v in arrays.items() if k.startswith("history__")},
        moves={k.removeprefix("moves__"): v for k, v in arrays.items() if k.startswith("moves__")},
        map=map_from_arrays(maps) if maps else None,
        selection_frequency=arrays.get("selection_frequency"),
        null_scores=arrays.get("null_scores"),
        p_value=arrays.get("p_value"),
        source_states=arrays.get("source_states"),
        target_states=arrays.get("target_states"),
        **{k: header[k] for k in _SCALARS},
    )
