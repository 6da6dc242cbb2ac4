"""Make the two small stand-in files that the tutorials read (``python tutorials/data/make_data.py``).

* ``4i_standin.h5ad``: SYNTHETIC imaging features in the layout of CellOT's 4i file ``8h.h5ad``
  (48 features named ``intensity-<compartment>-<marker>-mean`` / ``morphology-<compartment>-<feature>``,
  ``obs["drug"]`` with ``"control"`` and cisplatin, ixazomib, melphalan, sorafenib), values drawn
  from a seeded model with planted drug effects. Not measurements.
* ``sciplex3_standin.h5ad``: REAL PBMC expression (scanpy's bundled ``pbmc68k_reduced``, log-normalised,
  no download) in the layout of CellOT's sci-Plex3 file ``hvg.h5ad`` (``obs["drug"]`` with
  ``"control"``, ``obs["cell_type"]`` with A549 / K562 / MCF7), with a planted effect of one "drug"
  in one "cell line". The cell lines are PBMC populations, the drugs are labels.

The planted truth is stored in each file's ``uns`` (``planted_features`` / ``planted_genes``, ...) and
its ``uns["description"]`` says what the file is. Both are seeded: running this script again gives
the same files (tests/test_tutorials.py checks that it reproduces their shapes and groups).
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

HERE = Path(__file__).resolve().parent
FOURI_FILE = HERE / "4i_standin.h5ad"
SCIPLEX3_FILE = HERE / "sciplex3_standin.h5ad"

# ---------------------------------------------------------------------------- 4i stand-in
MARKERS = ["CD44", "MITF", "SOX10", "Ki67", "pERK", "pMEK", "cJUN", "p53", "pRB", "CyclinB1", "HES1", "YAP"]
COMPARTMENTS = ["cell", "nuclei", "cytoplasm"]
SHAPES = ["area", "perimeter", "eccentricity", "extent", "solidity", "major_axis_length"]
FOURI_FEATURES = [f"intensity-{c}-{m}-mean" for c in COMPARTMENTS for m in MARKERS] + [
    f"morphology-{c}-{f}" for c in ("cell", "nuclei") for f in SHAPES
]
FOURI_DRUGS = ["cisplatin", "ixazomib", "melphalan", "sorafenib"]
#: moved by every drug (a shared stress response), then each drug's own features, with the sign of the move
SHARED = {"intensity-nuclei-p53-mean": 1, "intensity-cell-cJUN-mean": 1, "morphology-nuclei-area": 1}
OWN = {
    "cisplatin": {
        "intensity-nuclei-pRB-mean": -1,
        "intensity-nuclei-CyclinB1-mean": 1,
        "morphology-cell-area": 1,
    },
    "ixazomib": {
        "intensity-cytoplasm-HES1-mean": 1,
        "intensity-cell-YAP-mean": -1,
        "morphology-cell-solidity": -1,
    },
    "melphalan": {
        "intensity-nuclei-Ki67-mean": -1,
        "intensity-cytoplasm-CD44-mean": 1,
        "morphology-nuclei-perimeter": 1,
    },
    "sorafenib": {
        "intensity-cell-pERK-mean": -1,
        "intensity-cytoplasm-pMEK-mean": -1,
        "intensity-nuclei-MITF-mean": -1,
    },
}
#: sorafenib acts only in the proliferative (MITF/SOX10-high) cells; the other drugs act in every cell
STATE_SPECIFIC = {"sorafenib": "proliferative"}
EFFECT_SD = 1.5  # planted shift, in control standard deviations of the (log) feature
N_CONTROL, N_DRUG = 800, 400


def make_fouri(seed: int = 0) -> ad.AnnData:
    """The synthetic 4i stand-in: two melanoma phenotypes, correlated log features, planted shifts."""
    rng = np.random.default_rng(seed)
    d = len(FOURI_FEATURES)
    names = np.asarray(FOURI_FEATURES)
    intensity = np.char.startswith(names, "intensity")
    # log-scale means: intensities of a few hundred a.u., shapes in pixels (areas ~1000s) or ratios (< 1)
    base = np.where(intensity, rng.uniform(5.0, 7.0, d), 0.0)
    shape_base = {"area": 7.2, "perimeter": 5.0, "eccentricity": -0.5, "extent": -0.4, "solidity": -0.1}
    shape_base["major_axis_length"] = 4.0
    shape_sd = {"area": 0.25, "perimeter": 0.15, "eccentricity": 0.2, "extent": 0.08, "solidity": 0.03}
    shape_sd["major_axis_length"] = 0.15
    sd = np.where(intensity, rng.uniform(0.25, 0.5, d), 0.0)
    for j, n in enumerate(names):
        if not intensity[j]:
            f = n.split("-", 2)[2]
            base[j] = shape_base[f] + (0.3 if n.startswith("morphology-cell") else 0.0)
            sd[j] = shape_sd[f]
    # phenotypes: proliferative (MITF, SOX10, Ki67 high) and invasive (CD44, cJUN, YAP high)
    phenotype_shift = np.zeros(d)
    for j, n in enumerate(names):
        if any(f"-{m}-" in n for m in ("MITF", "SOX10", "Ki67")):
            phenotype_shift[j] = 1.2
        elif any(f"-{m}-" in n for m in ("CD44", "cJUN", "YAP")):
            phenotype_shift[j] = -1.2
    loadings = rng.normal(0.0, 0.35, (3, d))  # size, staining and cell-cycle factors shared by features

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        proliferative = rng.random(n) < 0.5
        z = np.where(proliferative[:, None], 1.0, -1.0) * phenotype_shift / 2
        z = z + rng.normal(size=(n, 3)) @ loadings + rng.normal(size=(n, d)) * 0.8
        return base + z * sd, proliferative

    groups = [("control", N_CONTROL)] + [(drug, N_DRUG) for drug in FOURI_DRUGS]
    blocks, labels, states = [], [], []
    control_sd = None
    for drug, n in groups:
        logx, prolif = draw(n)
        if drug == "control":
            control_sd = logx.std(0)
        else:
            moved = {**SHARED, **OWN[drug]}
            rows = prolif if STATE_SPECIFIC.get(drug) == "proliferative" else np.ones(n, bool)
            for feature, sign in moved.items():
                j = FOURI_FEATURES.index(feature)
                logx[rows, j] += sign * EFFECT_SD * control_sd[j]
        blocks.append(logx)
        labels += [drug] * n
        states += list(np.where(prolif, "proliferative", "invasive"))
    x = np.exp(np.concatenate(blocks))
    x = np.where(intensity, np.round(x, 1), np.round(x, 3)).astype(np.float32)  # 4i-like precision
    obs = pd.DataFrame(
        {
            "drug": pd.Categorical(labels, categories=["control", *FOURI_DRUGS]),
            "phenotype": pd.Categorical(states, categories=["proliferative", "invasive"]),
        },
        index=[f"cell_{i}" for i in range(x.shape[0])],
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=FOURI_FEATURES))
    adata.uns["description"] = (
        "SYNTHETIC STAND-IN for CellOT's 4i file 8h.h5ad (same layout: 48 features named like the 4i "
        "features, obs['drug'] with 'control' and four drugs); values are drawn from a seeded model with "
        f"planted effects ({EFFECT_SD} control SDs on 6 features per drug, 3 shared by all drugs; sorafenib "
        "only in the 'proliferative' phenotype), not measured. Made by tutorials/data/make_data.py "
        f"(seed {seed})."
    )
    adata.uns["planted_features"] = {drug: sorted({**SHARED, **OWN[drug]}) for drug in FOURI_DRUGS}
    adata.uns["planted_state"] = dict(STATE_SPECIFIC)
    return adata


# ---------------------------------------------------------------------------- sci-Plex3 stand-in
#: PBMC populations of pbmc68k_reduced that play the three cell lines
LINES = {
    "A549": ["Dendritic"],
    "K562": ["CD14+ Monocyte", "CD19+ B", "CD34+"],
    "MCF7": [
        "CD4+/CD25 T Reg",
        "CD8+ Cytotoxic T",
        "CD8+/CD45RA+ Naive Cytotoxic",
        "CD56+ NK",
        "CD4+/CD45RO+ Memory",
        "CD4+/CD45RA+/CD25- Naive T",
    ],
}
SCI_DRUGS = ["trametinib", "dexamethasone"]  # trametinib acts in A549 only; dexamethasone acts nowhere
SCI_LINE = "A549"
N_PLANTED = 12
SCI_EFFECT_SD = 1.2  # mean log change of each planted gene, in the line's standard deviations


def make_sciplex3(seed: int = 0) -> ad.AnnData:
    """Real PBMC expression in the sci-Plex3 layout, with trametinib's effect planted in "A549"."""
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()  # bundled with scanpy: 700 cells, log-normalised in .raw
    x = pbmc.raw.X.toarray() if sparse.issparse(pbmc.raw.X) else np.asarray(pbmc.raw.X, dtype=float)
    x = x.astype(np.float64)
    genes = pbmc.raw.var_names.astype(str)
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    line = np.full(labels.size, "", dtype=object)
    for name, types in LINES.items():
        line[np.isin(labels, types)] = name
    rng = np.random.default_rng(seed)
    drug = np.empty(labels.size, dtype=object)
    for name in LINES:  # per line: half control, a quarter for each drug
        idx = rng.permutation(np.flatnonzero(line == name))
        n = idx.size
        drug[idx[: n // 2]] = "control"
        drug[idx[n // 2 : (3 * n) // 4]] = SCI_DRUGS[0]
        drug[idx[(3 * n) // 4 :]] = SCI_DRUGS[1]
    # planted genes: detected in at least 60% of the line's cells
    in_line = line == SCI_LINE
    detected = (x[in_line] > 0).mean(0)
    candidates = np.flatnonzero(detected >= 0.6)
    planted = np.sort(rng.choice(candidates, N_PLANTED, replace=False))
    signs = np.where(np.arange(N_PLANTED) % 2 == 0, 1.0, -1.0)
    responders = in_line & (drug == SCI_DRUGS[0])
    for j, sign in zip(planted, signs, strict=True):
        v = x[responders, j]
        target = sign * SCI_EFFECT_SD * x[in_line, j].std()
        lo, hi = -6.0, 6.0  # a count factor e^f (zeros stay zero), bisection on the mean log change
        for _ in range(60):
            f = (lo + hi) / 2
            lo, hi = (f, hi) if np.mean(np.log1p(np.expm1(v) * np.exp(f)) - v) < target else (lo, f)
        x[responders, j] = np.log1p(np.expm1(v) * np.exp(f))
    x = sparse.csr_matrix(np.round(x, 3).astype(np.float32))
    obs = pd.DataFrame(
        {
            "drug": pd.Categorical(drug.astype(str), categories=["control", *SCI_DRUGS]),
            "cell_type": pd.Categorical(line.astype(str), categories=list(LINES)),
        },
        index=pbmc.obs_names.astype(str),
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=genes))
    adata.uns["description"] = (
        "STAND-IN for CellOT's sci-Plex3 file hvg.h5ad (same layout: log-normalised genes, obs['drug'] "
        "with 'control', obs['cell_type'] with A549/K562/MCF7). The expression is REAL PBMC data "
        "(scanpy's pbmc68k_reduced, 700 cells); the 'cell lines' are PBMC populations "
        "(A549 = dendritic cells, K562 = monocytes, B cells and CD34+ cells, MCF7 = T and NK cells) and the "
        "drugs are random labels, half of each line 'control'. Planted: 'trametinib' changes "
        f"{N_PLANTED} genes by a mean log change of {SCI_EFFECT_SD} SDs (up and down) in A549 only; "
        "'dexamethasone' changes nothing. Made by tutorials/data/make_data.py "
        f"(seed {seed})."
    )
    adata.uns["planted_genes"] = {SCI_DRUGS[0]: [str(genes[j]) for j in planted]}  # no entry: no effect
    adata.uns["planted_cell_type"] = SCI_LINE
    return adata


def main() -> None:
    for make, path in ((make_fouri, FOURI_FILE), (make_sciplex3, SCIPLEX3_FILE)):
        adata = make()
        adata.write_h5ad(path, compression="gzip", compression_opts=9)
        print(
            f"wrote {path.name}: {adata.n_obs} cells × {adata.n_vars} features, {path.stat().st_size / 1e3:.0f} kB"
        )


if __name__ == "__main__":
    main()
