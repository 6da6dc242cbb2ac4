"""A fitted sparse OT map: apply it to new cells, save and load it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy import sparse

from ._cell_sources import as_cells
from ._device import seeded_torch
from ._npz import read_npz, write_npz
from .cells import CellData
from .icnn import ICNN

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator, Mapping
    from pathlib import Path

__all__ = ["SparseOTMap"]

FORMAT_VERSION = 1


class SparseOTMap:
    """Monge map ``T(x) = ∇g(x)`` from source to target cells, in data units.

    The network works on standardised coordinates ``(x − center) / scale``; this object hides that,
    so :meth:`transport` and :meth:`displacement` take and return data in the units of the input.

    Parameters
    ----------
    potential
        The convex potential ``g`` (an :class:`~scsparseot.core.ICNN`).
    center
        Per-gene centre subtracted before the network, shape ``(n_genes,)``.
    scale
        Global scale the centred data are divided by.
    support_tol
        Per-gene tolerance in data units below which a displacement counts as zero, shape ``(n_genes,)``.
    genes
        Optional gene names, kept with the map for the user's reference.

    Examples
    --------
    >>> import numpy as np
    >>> from scsparseot.core import ICNN, SparseOTMap
    >>> m = SparseOTMap(ICNN(3, hidden=(4,)), center=np.zeros(3), scale=1.0, support_tol=np.full(3, 0.1))
    >>> m.displacement(np.ones((2, 3)))
    array([[0., 0., 0.],
           [0., 0., 0.]], dtype=float32)
    """

    def __init__(
        self,
        potential: ICNN,
        *,
        center: np.ndarray,
        scale: float,
        support_tol: np.ndarray | float,
        genes: list[str] | None = None,
    ) -> None:
        self.potential = potential.eval()
        self.center = np.asarray(center, dtype=np.float32)
        self.scale = float(scale)
        self.support_tol = np.broadcast_to(
            np.asarray(support_tol, dtype=np.float32), self.center.shape
        ).copy()
        self.genes = None if genes is None else [str(g) for g in genes]
        if self.center.shape != (potential.dim,):
            msg = f"center has shape {self.center.shape}, expected ({potential.dim},) to match the potential."
            raise ValueError(msg)

    @property
    def n_genes(self) -> int:
        """Dimension of the data the map acts on."""
        return self.potential.dim

    @property
    def device(self) -> torch.device:
        """Device of the potential's parameters."""
        return next(self.potential.parameters()).device

    def to(self, device: str | torch.device) -> SparseOTMap:
        """Move the potential to ``device`` (in place); returns ``self``."""
        self.potential.to(device)
        return self

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_genes:
            msg = f"Expected an array of shape (n_cells, {self.n_genes}), got {x.shape}."
            raise ValueError(msg)
        return x

    def _blocks(
        self, x: np.ndarray | CellData | sparse.spmatrix, batch_size: int
    ) -> tuple[np.ndarray, Iterator[tuple[int, np.ndarray]]]:
        """An output array like ``x`` and ``(start, dense block)`` pairs over ``x``'s rows."""
        if isinstance(x, CellData) or sparse.issparse(x):
            cells = as_cells(x)
            if cells.shape[1] != self.n_genes:
                msg = f"Expected cells with {self.n_genes} genes, got shape {cells.shape}."
                raise ValueError(msg)
            return np.empty(cells.shape, dtype=np.float32), cells.chunks(min(batch_size, cells.chunk_size()))
        x = self._check(x)
        return np.empty_like(x), (
            (start, x[start : start + batch_size]) for start in range(0, x.shape[0], batch_size)
        )

    def _map_blocks(
        self, x: np.ndarray | CellData | sparse.spmatrix, batch_size: int, *, displacement: bool
    ) -> np.ndarray:
        """``T(x)`` (or ``T(x) − x``) batch by batch, in float32 data units."""
        out, blocks = self._blocks(x, batch_size)
        center = torch.as_tensor(self.center, device=self.device)
        for start, xb in blocks:
            tb = self.potential.transport((torch.as_tensor(xb, device=self.device) - center) / self.scale)
            tb = (tb * self.scale + center).detach().cpu().numpy()
            out[start : start + xb.shape[0]] = tb - xb if displacement else tb
        return out

    def transport(self, x: np.ndarray | CellData | sparse.spmatrix, *, batch_size: int = 8192) -> np.ndarray:
        """Images ``T(x)`` of the rows of ``x`` (data units, float32), computed in batches.

        ``x`` may be a dense array, a scipy sparse matrix or
        :class:`~scsparseot.core.CellData`; only one batch of it is densified at a time.
        """
        return self._map_blocks(x, batch_size, displacement=False)

    def displacement(
        self, x: np.ndarray | CellData | sparse.spmatrix, *, sparsify: bool = False, batch_size: int = 8192
    ) -> np.ndarray:
        """Displacements ``T(x) − x`` (data units, float32).

        Parameters
        ----------
        x
            Cells, shape ``(n_cells, n_genes)``: a dense array, a scipy sparse matrix or
            :class:`~scsparseot.core.CellData` (densified one batch at a time).
        sparsify
            Set entries with ``|Δ| ≤ support_tol`` to exactly zero.
        batch_size
            Number of cells per forward pass.
        """
        out = self._map_blocks(x, batch_size, displacement=True)
        if sparsify:
            out[np.abs(out) <= self.support_tol] = 0.0
        return out

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description of the map (everything but the weights)."""
        return {
            "format_version": FORMAT_VERSION,
            "dim": self.potential.dim,
            "hidden": list(self.potential.hidden),
            "activation": self.potential.activation,
            "scale": self.scale,
            "genes": self.genes,
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Weights, centre, tolerances and the JSON config as a flat dict of arrays (no pickle)."""
        arrays = {f"weight__{k}": v.detach().cpu().numpy() for k, v in self.potential.state_dict().items()}
        arrays["center"] = self.center
        arrays["support_tol"] = self.support_tol
        arrays["config"] = np.array(json.dumps(self.config()))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> SparseOTMap:
        """Inverse of :meth:`to_arrays`."""
        config = json.loads(str(np.asarray(arrays["config"])))
        version = config.get("format_version")
        if version != FORMAT_VERSION:
            msg = f"Map format version {version!r} is not supported; this scsparseot reads version {FORMAT_VERSION}."
            raise ValueError(msg)
        with seeded_torch(None):  # building the network must not move the caller's RNG
            potential = ICNN(config["dim"], hidden=config["hidden"], activation=config["activation"])
        state = {
            k.removeprefix("weight__"): torch.as_tensor(np.asarray(arrays[k]))
            for k in arrays
            if k.startswith("weight__")
        }
        potential.load_state_dict(state)
        return cls(
            potential,
            center=np.asarray(arrays["center"]),
            scale=config["scale"],
            support_tol=np.asarray(arrays["support_tol"]),
            genes=config["genes"],
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the map to one ``.npz`` file: weights, centre, tolerances and a versioned JSON config.

        No pickle is involved; :meth:`load` reads it back with ``allow_pickle=False``.
        Returns the path written (``.npz`` is appended when missing).

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> from scsparseot.core import ICNN, SparseOTMap
        >>> m = SparseOTMap(ICNN(3, hidden=(4,)), center=np.zeros(3), scale=1.0, support_tol=0.1)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     m2 = SparseOTMap.load(m.save(f"{d}/map"))
        >>> m2.n_genes
        3
        """
        return write_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> SparseOTMap:
        """Read a map written by :meth:`save`."""
        return cls.from_arrays(read_npz(path)).to(device)

    def __repr__(self) -> str:
        return f"SparseOTMap(n_genes={self.n_genes}, hidden={self.potential.hidden}, scale={self.scale:.3g})"
