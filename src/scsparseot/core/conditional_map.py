"""The fitted state-conditional map: cell states, the closed form per state, trained state networks.

:func:`~scsparseot.core.fit_conditional` (in :mod:`scsparseot.core.conditional`) fits it; this
module holds what a fitted map needs to move cells and to be saved: a cell's state is the nearest
centroid in the state embedding, and each state moves its genes by its trained network or, before
training, by its closed form (the one-dimensional OT map along the state's response direction).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from ._npz import read_npz, write_npz
from ._state_geometry import embed, nearest, state_move
from .map import SparseOTMap

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["ConditionalMap"]

FORMAT_VERSION = 2
#: maps of format version 1 (no trained states) are read too
READ_VERSIONS = (1, 2)


class ConditionalMap:
    """A fitted state-conditional map, in data units (see the module docstring).

    Parameters
    ----------
    mean, sd
        Per-gene z-score parameters (source cells).
    pca_mean, pca_components
        Centre ``(n_genes,)`` and loadings ``(n_pcs, n_genes)`` of the state embedding (zero
        loadings on the genes left out of it).
    centroids
        State centroids in the embedding, ``(n_states, n_pcs)``.
    direction
        Unit response direction of each state in z-scores, ``(n_states, n_genes)``; zero rows for
        states that do not move.
    knots, steps
        Quantile knots of the source projections and the move at each knot, ``(n_states, n_knots)``.
    offset
        Move added to every cell of a state, ``(n_states,)``.
    extra
        Shrunken shifts of further genes per state in z-scores, ``(n_states, n_genes)``.
    state_maps
        Trained maps of the states that move: state index → (indices of its moved genes, a
        :class:`~scsparseot.core.SparseOTMap` on their z-scores). In such a state this map
        replaces the closed form (``direction``, ``knots``, ``steps``, ``offset``, ``extra``,
        which then only record the start).
    support_tol
        Per-gene tolerance (data units) below which a displacement counts as zero.
    genes
        Gene names, kept for reference.
    state_names
        Names of the states (the labels they came from, e.g. cell types), or ``None`` for states
        the fit found itself (then named by their index).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from scsparseot.core import ConditionalMap, fit_conditional
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    >>> y[:, 2] += 1.0
    >>> m = fit_conditional(x, y).map
    >>> with tempfile.TemporaryDirectory() as d:
    ...     again = ConditionalMap.load(m.save(f"{d}/map"))
    >>> bool(np.array_equal(again.displacement(x), m.displacement(x)))
    True
    """

    kind = "conditional"

    def __init__(
        self,
        *,
        mean: np.ndarray,
        sd: np.ndarray,
        pca_mean: np.ndarray,
        pca_components: np.ndarray,
        centroids: np.ndarray,
        direction: np.ndarray,
        knots: np.ndarray,
        steps: np.ndarray,
        offset: np.ndarray,
        extra: np.ndarray,
        support_tol: np.ndarray | float,
        genes: list[str] | None = None,
        state_maps: Mapping[int, tuple[np.ndarray, SparseOTMap]] | None = None,
        state_names: list[str] | None = None,
    ) -> None:
        f32 = np.float32
        self.mean, self.sd = np.asarray(mean, f32), np.asarray(sd, f32)
        self.pca_mean, self.pca_components = np.asarray(pca_mean, f32), np.asarray(pca_components, f32)
        self.centroids = np.asarray(centroids, f32)
        self.direction, self.extra = np.asarray(direction, f32), np.asarray(extra, f32)
        self.knots, self.steps = np.asarray(knots, f32), np.asarray(steps, f32)
        self.offset = np.asarray(offset, f32)
        self.support_tol = np.broadcast_to(np.asarray(support_tol, f32), self.mean.shape).copy()
        self.genes = None if genes is None else [str(g) for g in genes]
        self.state_names = None if state_names is None else [str(n) for n in state_names]
        self.state_maps = {
            int(c): (np.asarray(cols, np.int64), m) for c, (cols, m) in (state_maps or {}).items()
        }

    @property
    def n_genes(self) -> int:
        """Dimension of the data the map acts on."""
        return int(self.mean.shape[0])

    @property
    def n_states(self) -> int:
        """Number of cell states."""
        return int(self.centroids.shape[0])

    @property
    def moved_genes(self) -> np.ndarray:
        """Boolean mask of the genes the map can move (in some state)."""
        return (self.direction != 0).any(0) | (self.extra != 0).any(0)

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_genes:
            msg = f"Expected an array of shape (n_cells, {self.n_genes}), got {x.shape}."
            raise ValueError(msg)
        return x

    def states(self, x: np.ndarray) -> np.ndarray:
        """State of each cell of ``x`` (index of the nearest centroid in the embedding)."""
        return nearest(embed(self._check(x), self.pca_mean, self.pca_components), self.centroids)

    def state_codes(self, labels: np.ndarray) -> np.ndarray:
        """State indices of the given state labels (names of ``state_names``, or indices)."""
        labels = np.asarray(labels)
        if self.state_names is None or labels.dtype.kind in "iu":
            codes = labels.astype(np.int64)
            bad = (codes < 0) | (codes >= self.n_states)
        else:
            lookup = {n: i for i, n in enumerate(self.state_names)}
            codes = np.array([lookup.get(str(v), -1) for v in labels], dtype=np.int64)
            bad = codes < 0
        if bad.any():
            unknown = sorted({str(v) for v in labels[bad]})[:5]
            names = self.state_names or list(range(self.n_states))
            msg = f"Unknown states {unknown}; the map's states are {names}."
            raise ValueError(msg)
        return codes

    def displacement(
        self, x: np.ndarray, *, states: np.ndarray | None = None, sparsify: bool = False, trained: bool = True
    ) -> np.ndarray:
        """Displacements ``T(x) − x`` (data units, float32); exactly zero in genes and states that do not move.

        ``states`` gives each cell's state (a name of ``state_names`` or an index; ``None``:
        the nearest centroid, :meth:`states`). ``trained=False`` gives the closed-form start
        instead of the trained state maps.
        """
        x = self._check(x)
        z = (x - self.mean) / self.sd
        if states is None:
            state = self.states(x)
        else:
            state = self.state_codes(states)
            if state.shape != (x.shape[0],):
                msg = f"states has {state.size} entries for {x.shape[0]} cells."
                raise ValueError(msg)
        out = np.zeros_like(z)
        for c in range(self.n_states):
            rows = np.flatnonzero(state == c)
            if not rows.size:
                continue
            if trained and c in self.state_maps:
                cols, state_map = self.state_maps[c]
                out[np.ix_(rows, cols)] = state_map.displacement(z[np.ix_(rows, cols)])
                continue
            out[rows] = state_move(
                z[rows], self.direction[c], self.knots[c], self.steps[c], self.offset[c], self.extra[c]
            )
        out *= self.sd
        if sparsify:
            out[np.abs(out) <= self.support_tol] = 0.0
        return out

    def transport(self, x: np.ndarray, *, states: np.ndarray | None = None) -> np.ndarray:
        """Images ``T(x)`` of the rows of ``x`` (data units, float32); ``states`` as for :meth:`displacement`."""
        return self._check(x) + self.displacement(x, states=states)

    # ------------------------------------------------------------------------------ persistence
    _ARRAYS = (
        "mean",
        "sd",
        "pca_mean",
        "pca_components",
        "centroids",
        "direction",
        "knots",
        "steps",
        "offset",
        "extra",
        "support_tol",
    )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every parameter and a JSON config as a flat dict of arrays (no pickle).

        A trained state ``c`` adds ``state{c}.genes`` and its map's arrays under ``state{c}.``.
        """
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        for c, (cols, state_map) in self.state_maps.items():
            arrays[f"state{c}.genes"] = cols
            arrays.update({f"state{c}.{k}": v for k, v in state_map.to_arrays().items()})
        config = {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "genes": self.genes,
            "trained_states": sorted(self.state_maps),
            "state_names": self.state_names,
        }
        arrays["config"] = np.array(json.dumps(config))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ConditionalMap:
        """Inverse of :meth:`to_arrays`."""
        config = json.loads(str(np.asarray(arrays["config"])))
        if config.get("kind") != cls.kind or config.get("format_version") not in READ_VERSIONS:
            msg = (
                f"Not a conditional map of format version {' or '.join(map(str, READ_VERSIONS))}: {config!r}."
            )
            raise ValueError(msg)
        state_maps = {}
        for c in config.get("trained_states", []):
            prefix = f"state{c}."
            parts = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
            state_maps[int(c)] = (np.asarray(parts.pop("genes")), SparseOTMap.from_arrays(parts))
        return cls(
            **{name: np.asarray(arrays[name]) for name in cls._ARRAYS},
            genes=config["genes"],
            state_maps=state_maps,
            state_names=config.get("state_names"),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the map to one ``.npz`` file (no pickle); returns the path written."""
        return write_npz(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ConditionalMap:
        """Read a map written by :meth:`save`."""
        return cls.from_arrays(read_npz(path))

    def __repr__(self) -> str:
        return (
            f"ConditionalMap(n_genes={self.n_genes}, n_states={self.n_states}, "
            f"moved genes={int(self.moved_genes.sum())}, trained states={len(self.state_maps)})"
        )
