"""Synthetic perturbation data with a known answer (the embedded default data)."""

from __future__ import annotations

from typing import get_args

import anndata as ad
import numpy as np
import pandas as pd

from .._types import SyntheticEffect, SyntheticKind

__all__ = ["synthetic_perturbation"]

SOURCE = "control"


def synthetic_perturbation(
    n_cells: int = 500,
    n_genes: int = 250,
    n_perturbed: int = 20,
    intensity: float | None = None,
    n_drugs: int = 1,
    seed: int = 0,
    *,
    kind: SyntheticKind = "gaussian",
    effect: SyntheticEffect = "shift",
    response_fraction: float = 1.0,
    overlap: float = 0.5,
) -> ad.AnnData:
    """Control cells and cells treated with ``n_drugs`` drugs that each move a known set of genes.

    ``kind="gaussian"`` (default) draws control and treated cells *independently* (unpaired, as in a
    real experiment) from a correlated Gaussian model of log-expression: gene means in [1, 3], a
    3-factor cell-state structure and gene noise, so genes have standard deviations between about
    0.5 and 1.5. Each drug then changes its genes in a share ``response_fraction`` of its cells:

    * ``effect="shift"``: by ``±intensity`` gene standard deviations (sign drawn per gene);
    * ``effect="variance"``: deviations from the gene mean multiplied by ``1 + intensity`` (mean unchanged);
    * ``effect="bimodal"``: half of the responding cells up, half down by ``intensity`` standard deviations.

    The first ``round(overlap * n_perturbed)`` genes of each drug are shared by all drugs, the
    rest are the drug's own, so the drugs' gene sets partly overlap.

    ``kind="paper"`` reproduces the synthetic data of the DisNOT paper: control ``U[0, 1]``, treated
    cells are the *same* cells (paired rows) plus ``U(0, intensity)`` on ``n_perturbed`` genes and
    ``U(0, 1)`` on ``3 * n_perturbed`` further genes (only the former count as perturbed).

    Parameters
    ----------
    n_cells
        Cells per group (the control and each drug).
    n_genes
        Number of genes.
    n_perturbed
        Genes moved by each drug.
    intensity
        Effect size; default 2.0 gene standard deviations (``"gaussian"``) or 100 (``"paper"``).
    n_drugs
        Number of drugs (groups ``drug_1``, ``drug_2``, ...).
    seed
        Random seed; the same seed gives the same data.
    kind
        ``"gaussian"`` or ``"paper"``.
    effect
        ``"shift"``, ``"variance"`` or ``"bimodal"`` (``"gaussian"`` only).
    response_fraction
        Share of a drug's cells that respond (``"gaussian"`` only).
    overlap
        Share of each drug's genes shared by all drugs.

    Returns
    -------
    AnnData with ``n_cells * (n_drugs + 1)`` cells, ``obs["drug"]`` (categories ``"control"``,
    ``"drug_1"``, ...), ``obs["responder"]`` (whether a treated cell was changed),
    ``uns["true_genes"]`` (drug → array of its gene names) and ``uns["synthetic"]`` (the parameters).

    Examples
    --------
    >>> import scsparseot as sso
    >>> adata = sso.datasets.synthetic_perturbation(n_cells=100, n_genes=50, n_perturbed=5, n_drugs=2)
    >>> adata.obs["drug"].value_counts().sort_index().tolist()
    [100, 100, 100]
    >>> len(adata.uns["true_genes"]["drug_1"])
    5
    """
    _check_choice("kind", kind, SyntheticKind)
    _check_choice("effect", effect, SyntheticEffect)
    if min(n_cells, n_genes, n_drugs) < 1 or n_perturbed < 0:
        msg = f"Need n_cells, n_genes, n_drugs >= 1 and n_perturbed >= 0; got {n_cells}, {n_genes}, {n_drugs}, {n_perturbed}."
        raise ValueError(msg)
    if not 0 <= response_fraction <= 1 or not 0 <= overlap <= 1:
        msg = f"response_fraction and overlap must lie in [0, 1]; got {response_fraction}, {overlap}."
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    n_shared = round(overlap * n_perturbed) if n_drugs > 1 else n_perturbed
    n_own = n_perturbed - n_shared
    n_extra = 3 * n_perturbed if kind == "paper" else 0
    needed = n_shared + n_drugs * (n_own + n_extra)
    if needed > n_genes:
        msg = f"{n_drugs} drugs × {n_perturbed} genes (overlap {overlap}) need {needed} genes; n_genes is {n_genes}."
        raise ValueError(msg)
    order = rng.permutation(n_genes)
    shared, rest = order[:n_shared], order[n_shared:]
    gene_sets, extra_sets = [], []
    for k in range(n_drugs):
        own = rest[k * n_own : (k + 1) * n_own]
        gene_sets.append(np.sort(np.concatenate([shared, own])))
        start = n_drugs * n_own + k * n_extra
        extra_sets.append(rest[start : start + n_extra])

    if kind == "paper":
        intensity = 100.0 if intensity is None else float(intensity)
        control = rng.uniform(0, 1, (n_cells, n_genes))
        blocks, responders = [control], [np.zeros(n_cells, bool)]
        for genes, extra in zip(gene_sets, extra_sets, strict=True):
            treated = control.copy()
            treated[:, genes] += rng.uniform(0, intensity, (n_cells, genes.size))
            treated[:, extra] += rng.uniform(0, 1, (n_cells, extra.size))
            blocks.append(treated)
            responders.append(np.ones(n_cells, bool))
    else:
        intensity = 2.0 if intensity is None else float(intensity)
        mean = rng.uniform(1, 3, n_genes)
        loadings = rng.normal(0, 0.4, (3, n_genes))
        noise = rng.uniform(0.4, 1.2, n_genes)
        sd = np.sqrt((loadings**2).sum(0) + noise**2)

        def draw(n: int) -> np.ndarray:
            return mean + rng.normal(size=(n, 3)) @ loadings + rng.normal(size=(n, n_genes)) * noise

        blocks, responders = [draw(n_cells)], [np.zeros(n_cells, bool)]
        for genes in gene_sets:
            treated = draw(n_cells)
            resp = np.zeros(n_cells, bool)
            resp[rng.permutation(n_cells)[: round(response_fraction * n_cells)]] = True
            sign = rng.choice([-1.0, 1.0], genes.size)
            rows = np.flatnonzero(resp)
            if effect == "shift":
                treated[np.ix_(rows, genes)] += sign * intensity * sd[genes]
            elif effect == "variance":
                dev = treated[np.ix_(rows, genes)] - mean[genes]
                treated[np.ix_(rows, genes)] = mean[genes] + (1.0 + intensity) * dev
            else:  # bimodal
                half = rng.permutation(rows.size) < rows.size // 2
                direction = np.where(half, 1.0, -1.0)[:, None]
                treated[np.ix_(rows, genes)] += direction * intensity * sd[genes]
            blocks.append(treated)
            responders.append(resp)

    drugs = [SOURCE] + [f"drug_{k + 1}" for k in range(n_drugs)]
    var_names = [f"gene_{i:0{len(str(n_genes - 1))}d}" for i in range(n_genes)]
    x = np.concatenate(blocks).astype(np.float32)
    obs = pd.DataFrame(
        {
            "drug": pd.Categorical(np.repeat(drugs, n_cells), categories=drugs),
            "responder": np.concatenate(responders),
        },
        index=[f"cell_{i}" for i in range(x.shape[0])],
    )
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=var_names))
    names = np.asarray(var_names)
    adata.uns["true_genes"] = {d: names[g] for d, g in zip(drugs[1:], gene_sets, strict=True)}
    adata.uns["synthetic"] = {
        "kind": kind,
        "effect": effect,
        "intensity": intensity,
        "response_fraction": float(response_fraction),
        "overlap": float(overlap),
        "seed": int(seed),
    }
    return adata


def _check_choice(name: str, value: str, literal: object) -> None:
    valid = get_args(literal)
    if value not in valid:
        msg = f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, valid))}."
        raise ValueError(msg)
