"""The fitted map predicts: held-out control cells transported by ``get.map`` move where the drug acts."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

import scsparseot as sso
from scsparseot.core import ConditionalConfig, TrainConfig

CONFIG = ConditionalConfig(train=TrainConfig(hidden=(8,), n_iters=60, min_iters=60, eval_every=20))


def _cells(n: int, rng: np.random.Generator, *, treated: bool) -> tuple[np.ndarray, np.ndarray]:
    """Two cell types told apart by genes 0-4; the drug raises gene 20 by 1.5 in type A only."""
    types = np.where(rng.random(n) < 0.5, "A", "B")
    a = rng.normal(size=(n, 30)).astype(np.float32)
    a[types == "A", :5] += 3.0
    if treated:
        a[types == "A", 20] += 1.5
    return a, types


def test_map_transports_held_out_cells_of_the_responding_type_only():
    rng = np.random.default_rng(0)
    (x, tx), (y, _) = _cells(600, rng, treated=False), _cells(400, rng, treated=True)
    fit_x = np.arange(600) < 400  # the map is fitted on 400 of the control cells ...
    obs = pd.DataFrame({"drug": ["control"] * 400 + ["drug"] * 400})
    obs.index = obs.index.astype(str)
    adata = ad.AnnData(np.vstack([x[fit_x], y]), obs=obs)
    adata.var_names = [f"g{j}" for j in range(30)]
    sso.tl.sparse_ot(adata, groupby="drug", source="control", target="drug", config=CONFIG, progress=False)
    held, held_types = x[~fit_x], tx[~fit_x]  # ... and moves the 200 it never saw
    moved = sso.get.map(adata, target="drug").transport(held) - held
    in_a = held_types == "A"
    assert 1.0 < moved[in_a, 20].mean() < 2.0  # the responding type moves by about the drug's effect
    assert np.all(moved[~in_a] == 0)  # the other type stays where it is, in every gene
    assert np.all(np.delete(moved, 20, axis=1) == 0)  # and no other gene moves
