"""A seeded snapshot of every output of ``tl.sparse_ot``, for the behaviour test in ``test_snapshot.py``.

Each run fits one method on a small synthetic screen (2 drugs) and flattens what it wrote (the
displacement layers, the response columns of ``obs``, the support in ``varm``, everything under
``uns[key]``) and what the getters return (gene table, summary, training history, per-cell response)
into named numpy arrays. Timings are left out. ``python tests/snapshot.py`` rewrites the stored
snapshot ``tests/data/snapshot.npz``: do that only when a change of behaviour is intended, and say
why in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

PATH = Path(__file__).parent / "data" / "snapshot.npz"

#: the runs: name → keyword arguments of ``tl.sparse_ot`` (beside the data and ``progress=False``)
RUNS: dict[str, dict[str, Any]] = {
    "conditional": {"n_iters": 60},
    "conditional_closed_form": {"n_iters": 0, "fdr": 0.1},
    "sparse_icnn": {"lam": 1.0, "n_iters": 60, "fdr": None},
    "sparse_icnn_null": {"lam": 1.0, "n_iters": 40, "n_null": 1, "store_maps": False},
    "exact": {"method": "exact"},
    "translation": {"method": "translation", "fdr": None},
    "elastic": {"method": "elastic", "n_null": 1},
    "rgd": {"method": "rgd", "max_genes": 5, "fdr": None},
}

#: keys that hold timings: they differ between runs of the same code
TIMING = ("seconds",)


def data() -> Any:
    """The snapshot's data: control + 2 drugs, 400 cells each of 30 genes (enough for 4 states)."""
    import scsparseot as sso

    return sso.datasets.synthetic_perturbation(
        n_cells=400, n_genes=30, n_perturbed=4, intensity=1.5, n_drugs=2, overlap=0.5, seed=3
    )


def run(name: str) -> dict[str, np.ndarray]:
    """Fit run ``name`` of :data:`RUNS` and flatten its outputs."""
    import torch

    import scsparseot as sso

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        adata = data()
        sso.tl.sparse_ot(adata, groupby="drug", source="control", progress=False, seed=0, **RUNS[name])
    finally:
        torch.set_num_threads(old)
    out: dict[str, np.ndarray] = {}
    key = "sparse_ot"
    for layer in sorted(adata.layers):
        _flatten(out, f"layers/{layer}", adata.layers[layer])
    for col in sorted(c for c in adata.obs if c.startswith(key)):
        _flatten(out, f"obs/{col}", adata.obs[col])
    for name_ in sorted(adata.varm):
        _flatten(out, f"varm/{name_}", adata.varm[name_])
    _flatten(out, "uns", adata.uns[key])
    _flatten(out, "get/perturbed_genes", sso.get.perturbed_genes(adata))
    _flatten(out, "get/summary", sso.get.summary(adata))
    for target in adata.uns[key]["params"]["targets"]:
        _flatten(out, f"get/training_history/{target}", sso.get.training_history(adata, target=target))
        _flatten(out, f"get/response/{target}", sso.get.response(adata, target=target))
    return {f"{name}/{k}": v for k, v in out.items()}


def core_run() -> dict[str, np.ndarray]:
    """:func:`~scsparseot.core.fit_conditional` on a task that takes every branch of the default.

    Two cell types; genes 200-204 shift in the first type only (heterogeneous genes, states that
    respond, the empirical-Bayes step with its 220 genes), genes 205-209 shift in every cell, genes
    210-213 widen their spread.
    """
    import torch

    from scsparseot.core import ConditionalConfig, TrainConfig, fit_conditional

    rng = np.random.default_rng(7)

    def cells(n: int) -> np.ndarray:
        a = rng.normal(size=(n, 220))
        a[: n // 2, :20] += 3.0
        return a

    x, y = cells(500), cells(500)
    y[:250, 200:205] += 1.2
    y[:, 205:210] += 0.8
    y[:, 210:214] *= 2.0
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train = TrainConfig(hidden=(16, 16), n_iters=40, eval_every=10)
        fit = fit_conditional(x, y, config=ConditionalConfig(train=train))
    finally:
        torch.set_num_threads(old)
    out: dict[str, np.ndarray] = {}
    for name in ("p_value", "adj_p_value", "heterogeneous", "source_states", "target_states"):
        out[name] = np.asarray(getattr(fit, name))
    out["responder_fraction"] = np.asarray(fit.responder_fraction)
    out["responder_fraction_se"] = np.asarray(fit.responder_fraction_se)
    out["displacement"] = fit.map.displacement(x)
    out["transport_new"] = fit.map.transport(cells(50))
    _flatten(out, "map", fit.map.to_arrays())
    return {f"core/{k}": v for k, v in out.items()}


def _flatten(out: dict[str, np.ndarray], prefix: str, value: Any) -> None:
    if any(t in prefix.rsplit("/", 1)[-1] for t in TIMING):
        return
    if isinstance(value, dict):
        for k in sorted(value):
            _flatten(out, f"{prefix}/{k}", value[k])
    elif isinstance(value, pd.DataFrame):
        _flatten(out, f"{prefix}/index", value.index)
        for col in value.columns:
            _flatten(out, f"{prefix}/{col}", value[col])
    elif isinstance(value, pd.Series | pd.Index | pd.Categorical):
        _flatten(out, prefix, np.asarray(value))
    elif sparse.issparse(value):
        csr = sparse.csr_matrix(value)
        csr.sort_indices()
        out[f"{prefix}/data"], out[f"{prefix}/indices"] = csr.data, csr.indices
        out[f"{prefix}/indptr"], out[f"{prefix}/shape"] = csr.indptr, np.asarray(csr.shape)
    elif value is None:
        out[prefix] = np.asarray("None")
    else:
        arr = np.asarray(value)
        out[prefix] = arr.astype(str) if arr.dtype == object else arr


def assert_same(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> None:
    """Every array of ``old`` is in ``new`` with the same values (floats to 1e-6 relative)."""
    missing = sorted(set(old) - set(new))
    assert not missing, f"outputs no longer written: {missing}"
    for k in sorted(old):
        a, b = old[k], new[k]
        assert a.shape == b.shape, f"{k}: shape {a.shape} became {b.shape}"
        if a.dtype.kind == "f" and b.dtype.kind == "f":
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=k)
        else:
            assert a.dtype.kind == b.dtype.kind or {a.dtype.kind, b.dtype.kind} <= {"U", "S"}, (
                f"{k}: dtype {a.dtype} became {b.dtype}"
            )
            assert np.array_equal(a, b), f"{k}: {a!r} became {b!r}"


def changed(old: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> list[str]:
    """The keys of ``old`` that :func:`assert_same` would reject in ``new``, and the keys ``new`` adds (``+key``)."""
    out = []
    for k in sorted(old):
        try:
            assert_same({k: old[k]}, new)
        except AssertionError:
            out.append(k)
    return out + [f"+{k}" for k in sorted(set(new) - set(old))]


def main() -> None:
    """Rewrite the stored snapshot."""
    arrays: dict[str, np.ndarray] = {}
    for name in RUNS:
        arrays.update(run(name))
    arrays.update(core_run())
    PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(PATH, **arrays)
    print(f"wrote {len(arrays)} arrays to {PATH}", file=sys.stderr)


if __name__ == "__main__":
    main()
