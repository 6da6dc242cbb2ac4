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

from ..core import CellData, ConditionalFit, DisplacementSummary, FitResult, MapFit, map_from_arrays

if TYPE_CHECKING:
    from ._spec import CellDesign, FitSpec

FORMAT_VERSION = 7
#: the result classes a checkpoint can hold, by name
_KINDS = {cls.__name__: cls for cls in (MapFit, FitResult, ConditionalFit)}
_SUMMARY_ARRAYS = ("response", "mean", "mean_abs", "support")


def fingerprint(
    x: np.ndarray | CellData,
    y: np.ndarray | CellData,
    spec: FitSpec,
    seed: int,
    genes: list[str],
    design: CellDesign | None = None,
) -> str:
    """Hash of the inputs of one target's fit (dense data hash as their raw bytes; others stream), its labels included."""
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
    if design is not None:
        design.update_hash(h)
    return h.hexdigest()


def _path(directory: Path, target: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target)
    digest = hashlib.sha1(target.encode()).hexdigest()[:8]  # keeps distinct labels distinct
    return directory / f"{safe}-{digest}.npz"


def save(directory: str | Path, target: str, fit: MapFit, key: str) -> Path:
    """Write one target's result (every field of its :class:`~scsparseot.core.MapFit`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {}
    header: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "fingerprint": key,
        "kind": type(fit).__name__,
    }
    for f in fields(fit):
        value = getattr(fit, f.name)
        if value is None:
            continue
        if f.name == "map":
            arrays.update({f"map__{k}": v for k, v in value.to_arrays().items()})
        elif f.name == "displacements":
            arrays.update(_summary_arrays(value))
            header["avg_dim"], header["sliced_w"] = value.avg_dim, value.sliced_w
        elif isinstance(value, dict):
            arrays.update({f"{f.name}__{k}": v for k, v in value.items()})
            header.setdefault("tables", []).append(f.name)
        elif isinstance(value, np.ndarray):
            arrays[f.name] = value
        else:
            header[f.name] = value.item() if isinstance(value, np.generic) else value
    arrays["header"] = np.array(json.dumps(header))
    path = _path(directory, target)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)  # atomic: a run killed while writing leaves no half-written checkpoint
    return path


def load(directory: str | Path, target: str, key: str) -> MapFit | None:
    """Read one target's result if a checkpoint with the same fingerprint exists."""
    path = _path(Path(directory), target)
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        if header.get("format_version") != FORMAT_VERSION or header.get("fingerprint") != key:
            return None
        arrays = {k: data[k] for k in data.files}
    cls = _KINDS[header["kind"]]
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name == "map":
            maps = {k.removeprefix("map__"): v for k, v in arrays.items() if k.startswith("map__")}
            values["map"] = map_from_arrays(maps) if maps else None
        elif f.name == "displacements":
            values["displacements"] = _summary(arrays, header) if "kept_data" in arrays else None
        elif f.name in header.get("tables", []):
            prefix = f"{f.name}__"
            values[f.name] = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
        elif f.name in arrays:
            values[f.name] = arrays[f.name]
        elif f.name in header:
            values[f.name] = header[f.name]
    return cls(**values)


def _summary_arrays(disp: DisplacementSummary) -> dict[str, np.ndarray]:
    return {
        "kept_data": disp.kept.data,
        "kept_indices": disp.kept.indices,
        "kept_indptr": disp.kept.indptr,
        "kept_shape": np.asarray(disp.kept.shape),
        **{name: getattr(disp, name) for name in _SUMMARY_ARRAYS},
    }


def _summary(arrays: dict[str, np.ndarray], header: dict[str, Any]) -> DisplacementSummary:
    kept = sparse.csr_matrix(
        (arrays["kept_data"], arrays["kept_indices"], arrays["kept_indptr"]),
        shape=tuple(int(v) for v in arrays["kept_shape"]),
    )
    return DisplacementSummary(
        kept=kept,
        avg_dim=float(header["avg_dim"]),
        sliced_w=float(header["sliced_w"]),
        **{name: arrays[name] for name in _SUMMARY_ARRAYS},
    )
