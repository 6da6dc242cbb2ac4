from __future__ import annotations

import io
from itertools import combinations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

import scsparseot as sso
from scsparseot import pl

TARGETS = ["drug_1", "drug_2"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _render(fig: Figure) -> None:
    """Draw the figure (layout included), so that layout problems surface as warnings = errors."""
    fig.savefig(io.BytesIO(), format="png")


def _ticklabels(ax: Axes, axis: str = "x") -> list[str]:
    return [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")()]


def _selected_sets(adata) -> dict[str, set[str]]:
    df = sso.get.perturbed_genes(adata, selected_only=True)
    return {t: set(df.loc[df["target"] == t, "gene"]) for t in TARGETS}


# ------------------------------------------------------------------------------------------ gene_overlap


def test_upset_bars_are_the_exclusive_intersections(fitted):
    sets = _selected_sets(fitted)
    genes = set().union(*sets.values())
    # independent count: each gene falls in the intersection of exactly the drugs that select it
    combos = pd.Series([frozenset(t for t in TARGETS if g in sets[t]) for g in genes]).value_counts()
    assert len(combos) >= 2  # the fixture's drugs share genes and have their own

    axes = pl.gene_overlap(fitted, show=False)
    assert set(axes) == {"intersections", "matrix", "sets"}
    _render(axes["matrix"].figure)
    heights = [p.get_height() for p in axes["intersections"].patches]
    assert len(heights) == len(combos)
    assert heights == sorted(combos.tolist(), reverse=True)
    assert heights == sorted(heights, reverse=True)
    # set sizes on the side, one bar per drug in fit order
    assert [p.get_width() for p in axes["sets"].patches] == [len(sets[t]) for t in TARGETS]
    assert _ticklabels(axes["matrix"], "y") == TARGETS
    # one dot per drug per column; dark dots = members, one connecting line per multi-drug column
    dots = [c for c in axes["matrix"].collections if isinstance(c, PathCollection)]
    assert len(dots) == len(combos)
    dark = [int((np.asarray(c.get_facecolors())[:, :3] < 0.5).all(1).sum()) for c in dots]
    assert sorted(dark) == sorted(len(c) for c in combos.index)
    assert len(axes["matrix"].lines) == sum(len(c) > 1 for c in combos.index)


def test_upset_top_n_and_targets(fitted):
    axes = pl.gene_overlap(fitted, selected_only=False, top_n=5, show=False)
    assert [p.get_width() for p in axes["sets"].patches] == [5, 5]
    assert sum(p.get_height() for p in axes["intersections"].patches) == len(
        set(sso.get.perturbed_genes(fitted, top_n=5)["gene"])
    )
    one = pl.gene_overlap(fitted, targets=["drug_2"], show=False)
    assert _ticklabels(one["matrix"], "y") == ["drug_2"]
    assert len(one["intersections"].patches) == 1
    with pytest.raises(ValueError, match="give top_n"):
        pl.gene_overlap(fitted, selected_only=False)


def test_jaccard_heatmap_values(fitted):
    sets = _selected_sets(fitted)
    axes = pl.gene_overlap(fitted, kind="jaccard", show=False)
    assert list(axes) == ["heatmap"]
    ax = axes["heatmap"]
    _render(ax.figure)
    values = np.asarray(ax.images[0].get_array())
    for (i, a), (j, b) in combinations(enumerate(TARGETS), 2):
        expected = len(sets[a] & sets[b]) / len(sets[a] | sets[b])
        assert values[i, j] == pytest.approx(expected)
        assert values[j, i] == pytest.approx(expected)
    assert np.diag(values) == pytest.approx([1.0, 1.0])
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in values.ravel()]
    assert _ticklabels(ax) == TARGETS
    assert len(ax.figure.axes) == 2  # heatmap + colorbar
    assert ax.figure.axes[1].get_ylabel() == "Jaccard index"


def test_gene_overlap_bad_kind(fitted):
    with pytest.raises(ValueError, match=r"kind must be one of \['upset', 'jaccard'\]"):
        pl.gene_overlap(fitted, kind="venn")


# ------------------------------------------------------------------------------------------ support


def test_support_dotplot_content(fitted):
    top = sso.get.perturbed_genes(fitted, top_n=3)
    in_top = {t: top.loc[top["target"] == t].sort_values("rank")["gene"].tolist() for t in TARGETS}
    best = top.groupby("gene")["rank"].min()
    shared = sorted(set(in_top["drug_1"]) & set(in_top["drug_2"]), key=lambda g: best[g])
    # columns grouped by the drugs listing them: shared genes first, then each drug's own, best rank first
    expected = shared + [g for t in TARGETS for g in in_top[t] if g not in shared]
    assert len(expected) == len(set(top["gene"]))
    ax = pl.support(fitted, top_n=3, show=False)
    _render(ax.figure)
    assert _ticklabels(ax) == expected
    assert _ticklabels(ax, "y") == TARGETS
    assert len(ax.figure.axes) == 3  # dots, size legend, colorbar
    dots = ax.collections[0]
    # colour scale centred at 0
    assert dots.norm.vmin == pytest.approx(-dots.norm.vmax)
    assert dots.norm.vmax > 0
    table = sso.get.perturbed_genes(fitted).set_index(["target", "gene"])
    want = [table.at[(t, g), "mean_displacement"] for t in TARGETS for g in expected]
    assert np.asarray(dots.get_array()) == pytest.approx(want)
    size = [table.at[(t, g), "support_fraction"] * 220.0 for t in TARGETS for g in expected]
    assert dots.get_sizes() == pytest.approx(size)
    assert "mean displacement" in ax.figure.axes[2].get_xlabel()


def test_support_given_genes_and_targets(fitted):
    ax = pl.support(fitted, genes=["gene_03", "gene_21"], targets="drug_2", show=False)
    assert _ticklabels(ax) == ["gene_03", "gene_21"]
    assert _ticklabels(ax, "y") == ["drug_2"]
    with pytest.raises(KeyError, match="not fitted"):
        pl.support(fitted, genes=["gene_03", "nope"])


# ------------------------------------------------------------------------------------------ displacement


def test_displacement_heatmap_content(fitted):
    genes = sso.get.perturbed_genes(fitted, target="drug_1", top_n=6)["gene"].tolist()
    ax = pl.displacement(fitted, target="drug_1", top_n=6, show=False)
    _render(ax.figure)
    assert _ticklabels(ax) == genes
    image = ax.images[0]
    vmin, vmax = image.get_clim()
    assert vmin == pytest.approx(-vmax)
    # rows are the source cells, most moved first
    source = (fitted.obs["drug"] == "control").to_numpy()
    layer = fitted.layers["sparse_ot_displacement_drug_1"][source].toarray()
    order = np.argsort(-np.abs(layer).sum(1), kind="stable")
    expected = layer[order][:, fitted.var_names.get_indexer(genes)]
    np.testing.assert_allclose(np.asarray(image.get_array()), expected)
    assert len(ax.figure.axes) == 2  # heatmap + colorbar
    # genes that are not selected have grey labels, and the axis label says so
    table = sso.get.perturbed_genes(fitted, target="drug_1").set_index("gene")["selected"]
    grey = [matplotlib.colors.to_hex(t.get_color()) != "#000000" for t in ax.get_xticklabels()]
    assert grey == [not table[g] for g in genes]
    assert ("grey: not selected" in ax.get_xlabel()) == any(grey)


def test_displacement_violin(fitted):
    ax = pl.displacement(
        fitted, target="drug_2", genes=["gene_21", "gene_28", "gene_00"], kind="violin", show=False
    )
    _render(ax.figure)
    assert _ticklabels(ax) == ["gene_21", "gene_28", "gene_00"]
    source = (fitted.obs["drug"] == "control").to_numpy()
    layer = fitted.layers["sparse_ot_displacement_drug_2"][source]
    share = (layer[:, fitted.var_names.get_indexer(["gene_21", "gene_28", "gene_00"])].toarray() != 0).mean(0)
    assert [t.get_text() for t in ax.texts] == [f"{s:.0%}" for s in share]
    with pytest.raises(KeyError, match=r"not in adata\.var_names"):
        pl.displacement(fitted, target="drug_2", genes=["nope"])


# ------------------------------------------------------------------------------------------ training


def test_training_fixed_lambda(fitted):
    hist = sso.get.training_history(fitted, target="drug_1")
    axes = pl.training(fitted, target="drug_1", show=False)
    assert set(axes) == {"lam", "dim", "err", "eval"}
    fig = axes["lam"].figure
    _render(fig)
    assert len(fig.axes) == 4
    for name in ("lam", "dim", "err"):
        np.testing.assert_allclose(axes[name].lines[0].get_ydata(), hist[name].to_numpy())
        np.testing.assert_allclose(axes[name].lines[0].get_xdata(), hist["step"].to_numpy())
    assert "fixed λ" in axes["eval"].get_title()
    assert not axes["eval"].collections  # no moves to mark
    assert axes["err"].get_xlabel() == "training step"
    lo, hi = axes["dim"].get_ylim()  # a count: from 0, with room above the largest value
    assert lo == 0.0
    assert hi > hist["dim"].max()


def test_training_draws_one_trace_per_state_of_the_default(synthetic):
    out = sso.tl.sparse_ot(synthetic, target="drug_1", n_iters=30, progress=False, copy=True)
    hist = sso.get.training_history(out)
    states = sorted(set(hist["state"]))
    assert states and states[0] >= 0
    axes = pl.training(out, show=False)
    _render(axes["lam"].figure)
    for name in ("dim", "err"):
        assert len(axes[name].lines) == len(states)
        for line, c in zip(axes[name].lines, states, strict=True):
            rows = hist[hist["state"] == c]
            np.testing.assert_allclose(line.get_ydata(), rows[name].to_numpy())
            assert line.get_label() == f"state {c}"
    assert "one network per moving state" in axes["lam"].figure._suptitle.get_text()


def test_training_marks_accepted_and_rejected_moves(fitted):
    accepted = np.array([True, False, True, False, False])
    moves = pd.DataFrame(
        {
            "target": pd.Categorical(["drug_1"] * 5, categories=TARGETS),
            "step": [100.0, 150.0, 200.0, 250.0, 300.0],
            "lam": [1.0, 1.5, 0.8, 0.7, 0.9],
            "eval": [1.0, 1.1, 0.9, 0.95, 0.92],
            "dim": [5.0, 4.0, 4.5, 4.6, 4.4],
            "err": [0.2, 0.25, 0.21, 0.22, 0.2],
            "accepted": accepted,
            "temperature": [1.0, 0.8, 0.64, 0.51, 0.41],
        }
    )
    fitted.uns["sparse_ot"]["moves"] = moves
    axes = pl.training(fitted, target="drug_1", show=False)
    _render(axes["eval"].figure)
    filled, hollow = axes["eval"].collections[:2]
    assert filled.get_offsets().shape[0] == accepted.sum()
    assert hollow.get_offsets().shape[0] == (~accepted).sum()
    np.testing.assert_allclose(np.asarray(filled.get_offsets())[:, 1], moves["eval"][accepted])
    assert np.asarray(filled.get_facecolors())[:, 3].min() > 0  # filled
    assert (
        np.asarray(hollow.get_facecolors()).size == 0 or np.asarray(hollow.get_facecolors())[:, 3].max() == 0
    )
    assert "λ search" in axes["eval"].get_title()
    # the other target has no moves
    other = pl.training(fitted, target="drug_2", show=False)
    assert "fixed λ" in other["eval"].get_title()


def test_training_draws_rolled_back_steps_as_branches(fitted):
    # a rejected move at steps 75-100 restores step 50; training then goes on from there
    hist = pd.DataFrame(
        {
            "target": pd.Categorical(["drug_1"] * 6, categories=TARGETS),
            "step": [25.0, 50.0, 75.0, 100.0, 75.0, 100.0],
            "lam": [1.0, 1.0, 2.0, 2.0, 1.0, 1.0],
            "loss_g": 0.0,
            "loss_f": 0.0,
            "dim": [5.0, 4.0, 3.0, 2.0, 4.0, 4.0],
            "err": [0.3, 0.2, 0.4, 0.5, 0.2, 0.2],
            "spa": 1.0,
            "lr": 1e-3,
        }
    )
    fitted.uns["sparse_ot"]["history"] = hist
    axes = pl.training(fitted, target="drug_1", show=False)
    kept, branch = axes["dim"].lines[:2]
    np.testing.assert_allclose(kept.get_xdata(), [25, 50, 75, 100])
    np.testing.assert_allclose(kept.get_ydata(), [5, 4, 4, 4])
    np.testing.assert_allclose(branch.get_xdata(), [50, 75, 100])  # starts where it branched off
    np.testing.assert_allclose(branch.get_ydata(), [4, 3, 2])
    assert branch.get_linestyle() == "--"


# ------------------------------------------------------------------------------------------ transport


def test_transport_computes_pca_without_writing(fitted):
    before = (set(fitted.obsm), set(fitted.varm), set(fitted.uns))
    ax = pl.transport(fitted, target="drug_1", n_arrows=30, show=False)
    _render(ax.figure)
    assert (set(fitted.obsm), set(fitted.varm), set(fitted.uns)) == before
    quiver = next(c for c in ax.collections if isinstance(c, Quiver))
    assert quiver.N == 30
    assert ax.get_xlabel().startswith("PC1") and ax.get_ylabel().startswith("PC2")
    # source points and images: image = source + arrow
    src = np.asarray(ax.collections[1].get_offsets())
    img = np.asarray(ax.collections[2].get_offsets())
    assert src.shape == img.shape == ((fitted.obs["drug"] == "control").sum(), 2)


def test_transport_uses_stored_pca_loadings(fitted):
    import scanpy as sc

    sc.pp.pca(fitted, n_comps=5)
    ax = pl.transport(fitted, target="drug_2", n_arrows=10_000, show=False)
    source = (fitted.obs["drug"] == "control").to_numpy()
    delta = fitted.layers["sparse_ot_displacement_drug_2"][source]
    shift = np.asarray(delta @ fitted.varm["PCs"][:, :2])
    src = np.asarray(ax.collections[1].get_offsets())
    img = np.asarray(ax.collections[2].get_offsets())
    np.testing.assert_allclose(src, fitted.obsm["X_pca"][source, :2], rtol=1e-5)
    np.testing.assert_allclose(img - src, shift, rtol=1e-4, atol=1e-5)
    quiver = next(c for c in ax.collections if isinstance(c, Quiver))
    n_arrows = quiver.N
    assert n_arrows == int((np.abs(delta).sum(1) > 0).sum())


def test_transport_refuses_nonlinear_basis(fitted):
    fitted.obsm["X_umap"] = np.zeros((fitted.n_obs, 2))
    with pytest.raises(ValueError, match="only basis='pca' is supported"):
        pl.transport(fitted, target="drug_1", basis="umap")
    with pytest.raises(ValueError, match="non-empty"):
        pl.transport(fitted, target="drug_1", genes=[])
    fitted.obsm["X_pca"] = np.zeros((fitted.n_obs, 2))
    with pytest.raises(ValueError, match=r"varm\['PCs'\]"):
        pl.transport(fitted, target="drug_1")
    with pytest.raises(ValueError, match="genes= chooses the genes of a PCA computed here"):
        pl.transport(fitted, target="drug_1", genes=["gene_01"])


def test_transport_pca_of_chosen_genes(fitted):
    genes = sso.get.perturbed_genes(fitted, target="drug_1", selected_only=True)["gene"].tolist()
    ax = pl.transport(fitted, target="drug_1", genes=genes, show=False)
    assert ax.get_xlabel().startswith(f"PC1 of {len(genes)} genes")
    source = (fitted.obs["drug"] == "control").to_numpy()
    idx = fitted.var_names.get_indexer(genes)
    x = fitted.X[source][:, idx]
    src = np.asarray(ax.collections[1].get_offsets())
    img = np.asarray(ax.collections[2].get_offsets())
    # a linear projection: distances between cells in the plane never exceed those in gene space
    moved = fitted.layers["sparse_ot_displacement_drug_1"][source][:, idx].toarray()
    assert (np.linalg.norm(img - src, axis=1) <= np.linalg.norm(moved, axis=1) + 1e-4).all()
    assert (np.linalg.norm(src[0] - src[1:], axis=1) <= np.linalg.norm(x[0] - x[1:], axis=1) + 1e-4).all()


# ------------------------------------------------------------------------------------------ conventions

SINGLE = [
    ("support", {}),
    ("displacement", {"target": "drug_1"}),
    ("displacement", {"target": "drug_1", "kind": "violin"}),
    ("transport", {"target": "drug_1"}),
]
MULTI = [
    ("gene_overlap", {}, 4),  # bars, matrix, set sizes, blank corner
    ("gene_overlap", {"kind": "jaccard"}, 2),  # heatmap + colorbar
    ("training", {"target": "drug_1"}, 4),
]
ALL = [(n, k) for n, k in SINGLE] + [(n, k) for n, k, _ in MULTI]


@pytest.mark.parametrize(("name", "kwargs"), ALL, ids=lambda x: x if isinstance(x, str) else "")
def test_return_types(fitted, name, kwargs, monkeypatch):
    fn = getattr(pl, name)
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(1))
    fig = fn(fitted, **kwargs, return_fig=True)
    assert isinstance(fig, Figure)
    assert not shown
    _render(fig)
    out = fn(fitted, **kwargs, show=False)
    assert (
        isinstance(out, Axes) if name in {"support", "displacement", "transport"} else isinstance(out, dict)
    )
    assert not shown
    assert fn(fitted, **kwargs) is None  # shown
    assert len(shown) == 1
    assert fn(fitted, **kwargs, show=True, return_fig=True) is not None
    assert len(shown) == 2


@pytest.mark.parametrize(("name", "kwargs"), ALL, ids=lambda x: x if isinstance(x, str) else "")
def test_draws_into_given_ax(fitted, name, kwargs, monkeypatch):
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5), layout="constrained")
    left.plot([0, 1], [0, 1])
    out = getattr(pl, name)(fitted, **kwargs, ax=right)
    assert not shown  # ax given: not shown, the axes are returned
    axes = out.values() if isinstance(out, dict) else [out]
    assert all(a.figure is fig for a in axes)
    assert left in fig.axes
    assert len(fig.axes) > 1
    _render(fig)


def test_ax_counts(fitted):
    for name, kwargs, n_axes in MULTI:
        fig = getattr(pl, name)(fitted, **kwargs, return_fig=True)
        assert len(fig.axes) == n_axes, name
    for name, kwargs in SINGLE:
        fig = getattr(pl, name)(fitted, **kwargs, return_fig=True)
        expected = {"support": 3, "transport": 1}.get(name, 2 if kwargs.get("kind") != "violin" else 1)
        assert len(fig.axes) == expected, name


@pytest.mark.parametrize(("name", "kwargs"), ALL, ids=lambda x: x if isinstance(x, str) else "")
def test_unknown_key(fitted, name, kwargs):
    with pytest.raises(KeyError, match=r"No scsparseot results under adata.uns\['other'\]"):
        getattr(pl, name)(fitted, key="other", **kwargs, show=False)


@pytest.mark.parametrize("name", ["displacement", "training", "transport"])
def test_unknown_or_missing_target(fitted, name):
    fn = getattr(pl, name)
    with pytest.raises(
        KeyError, match=r"target='drug_9' was not fitted.*fitted targets: \['drug_1', 'drug_2'\]"
    ):
        fn(fitted, target="drug_9", show=False)
    with pytest.raises(ValueError, match="pick one with target="):
        fn(fitted, show=False)


@pytest.mark.parametrize("name", ["gene_overlap", "support"])
def test_unknown_targets(fitted, name):
    with pytest.raises(KeyError, match="fitted targets"):
        getattr(pl, name)(fitted, targets=["drug_1", "drug_9"], show=False)


def test_plots_leave_adata_unchanged(fitted):
    from anndata.tests.helpers import assert_equal

    before = fitted.copy()
    for name, kwargs in ALL:
        getattr(pl, name)(fitted, **kwargs, show=False)
    assert_equal(fitted, before)
