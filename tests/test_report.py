"""The per-drug report (``report.write_report``), the warnings a fit records for it, and its accessors."""

from __future__ import annotations

import base64
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from anndata.tests.helpers import assert_equal

import scsparseot as sso
from scsparseot.core import TrainConfig
from scsparseot.tl._context import failed_target, fitting

TINY = TrainConfig(hidden=(16, 16), n_iters=60, eval_every=20, min_iters=20)
PNG = b"\x89PNG\r\n\x1a\n"


def tiny_fit(**kwargs) -> ad.AnnData:
    adata = sso.datasets.synthetic_perturbation(
        n_cells=60, n_genes=15, n_perturbed=3, intensity=3.0, n_drugs=2, seed=1
    )
    adata.obs["cell_type"] = np.where(np.arange(adata.n_obs) % 3, "B cell", "T cell")
    sso.tl.sparse_ot(adata, config=TINY, **{"lam": 1.0, "fdr": None, "progress": False, **kwargs})
    return adata


@pytest.fixture(scope="module")
def fitted_small() -> ad.AnnData:
    return tiny_fit()


@pytest.fixture(scope="module")
def report_dir(fitted_small, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    sso.report.write_report(fitted_small, out, groupby="cell_type", top_n=8, source_file="fit.h5ad")
    return out


class _Page(HTMLParser):
    """Sections (by id), the genes listed in each section's gene table, and the images of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.images: list[str] = []
        self.ids: set[str] = set()
        self._section: str | None = None
        self._in_genes = self._first_cell = False
        self._td = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "section":
            self._section = attrs["data-target"]
            self.sections[self._section] = {"id": attrs["id"], "genes": [], "images": 0}
        elif tag == "table" and "genes" in attrs.get("class", "").split():
            self._in_genes = True
        elif tag == "tr":
            self._td = 0
        elif tag == "td":
            self._td += 1
            self._first_cell = self._in_genes and self._td == 1
        elif tag == "img":
            self.images.append(attrs["src"])
            if self._section:
                self.sections[self._section]["images"] += 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_genes = False
        elif tag == "section":
            self._section = None
        elif tag == "td":
            self._first_cell = False

    def handle_data(self, data):
        if self._first_cell and self._section:
            self.sections[self._section]["genes"].append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


# ------------------------------------------------------------------------------ files and tables
def test_tsv_tables_match_get(fitted_small, report_dir):
    summary = pd.read_csv(report_dir / "summary.tsv", sep="\t")
    pd.testing.assert_frame_equal(summary, sso.get.summary(fitted_small), check_dtype=False)

    genes = pd.read_csv(report_dir / "genes.tsv", sep="\t", keep_default_na=True)
    expected = sso.get.perturbed_genes(fitted_small)
    assert list(genes.columns) == list(expected.columns)
    assert len(genes) == len(expected)
    n_sel = int(expected["selected"].sum())
    assert 0 < n_sel < len(expected)
    assert genes["selected"].iloc[:n_sel].all() and not genes["selected"].iloc[n_sel:].any()
    key = ["target", "gene"]
    pd.testing.assert_frame_equal(
        genes.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )

    for drug in ("drug_1", "drug_2"):
        per_drug = pd.read_csv(report_dir / drug / "genes.tsv", sep="\t")
        table = sso.get.perturbed_genes(fitted_small, target=drug)
        selected = table[table["selected"]]
        assert per_drug["gene"].tolist()[: len(selected)] == selected["gene"].tolist()
        assert set(per_drug["gene"]) == set(table["gene"])
        assert (per_drug["target"] == drug).all()


def test_figures_written(report_dir):
    for rel in ("overlap_upset.png", "overlap_jaccard.png", "support.png"):
        assert (report_dir / rel).read_bytes().startswith(PNG), rel
    for drug in ("drug_1", "drug_2"):
        for name in ("displacement.png", "response.png", "training.png"):
            assert (report_dir / drug / name).read_bytes().startswith(PNG), (drug, name)


def test_html_structure(fitted_small, report_dir):
    page = parse(report_dir / "index.html")
    text = (report_dir / "index.html").read_text(encoding="utf-8")
    assert {"summary", "parameters", "versions", "warnings"} <= page.ids
    assert set(page.sections) == {"drug_1", "drug_2"}
    for drug, section in page.sections.items():
        assert section["id"] in page.ids
        selected = sso.get.perturbed_genes(fitted_small, target=drug, selected_only=True)["gene"].tolist()
        assert section["genes"] == selected
        assert section["images"] == 3  # displacement, response by cell type, training
        assert f'href="#{section["id"]}"' in text  # linked from the navigation and the summary
    # self-contained: every image is embedded and decodes to a PNG; no remote resource
    assert len(page.images) == 3 + 2 * 3
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert f"<td>scsparseot</td><td>{sso.__version__}</td>" in text
    assert "fit.h5ad" in text and "cell_type" in text
    assert "<td>groupby</td><td>drug</td>" in text


def test_versions_are_session_info2s(report_dir):
    """The version table is session-info2's: the session, scsparseot first, every loaded distribution."""
    import importlib.metadata
    import json
    import re
    import sys

    import session_info2

    text = (report_dir / "index.html").read_text(encoding="utf-8")
    table = text[text.index('<h2 id="versions">') :]
    heading = r'<tr><th colspan="2">(\w+)</th></tr>(.*?)(?=<tr><th|</tbody>)'
    row = r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>"
    sections = {name: re.findall(row, body) for name, body in re.findall(heading, table)}
    assert list(sections) == ["Session", "Packages", "Dependencies"]
    assert [k for k, _ in sections["Session"]] == ["Python", "OS", "CPU"]
    assert dict(sections["Session"])["Python"] == sys.version.replace("\n", "")
    assert sections["Packages"][0] == ("scsparseot", sso.__version__)
    listed = dict(sections["Packages"] + sections["Dependencies"])
    assert len(listed) == len(sections["Packages"]) + len(sections["Dependencies"])  # each name once
    info = json.loads(session_info2.session_info(dependencies=True).format("json"))
    reported = {r["package"]: r["version"] for r in info["packages"] + info["dependencies"]}
    for dist in ("scsparseot", "torch", "anndata"):
        assert listed[dist] == reported[dist] == importlib.metadata.version(dist)
    # nothing is unloaded: every distribution the page lists is loaded still, at the version it lists
    assert {k: reported[k] for k in listed} == listed
    # loaded by the fit and its figures
    assert {"numpy", "scipy", "pandas", "matplotlib", "scanpy"} <= set(listed)
    deps = [k for k, _ in sections["Dependencies"]]
    assert deps == sorted(deps, key=str.casefold)


def test_linked_images(fitted_small, tmp_path):
    index = sso.report.write_report(fitted_small, tmp_path, embed_images=False)
    srcs = parse(index).images
    assert srcs and not any(s.startswith("data:") for s in srcs)
    assert all((tmp_path / s).is_file() for s in srcs)
    assert not (tmp_path / "drug_1" / "response.png").exists()  # no groupby, no response figure


def test_bad_arguments_write_nothing(fitted_small, tmp_path):
    out = tmp_path / "r"
    with pytest.raises(KeyError, match="groupby='nope'"):
        sso.report.write_report(fitted_small, out, groupby="nope")
    with pytest.raises(ValueError, match="top_n"):
        sso.report.write_report(fitted_small, out, top_n=0)
    with pytest.raises(KeyError, match="No scsparseot results"):
        sso.report.write_report(fitted_small, out, key="other")
    assert not out.exists()


def test_notes_and_missing_figures(tmp_path, monkeypatch):
    # a huge support_tol moves nothing: no gene is selected
    adata = tiny_fit(target="drug_1", support_tol=1e6)

    def cannot_draw(*args, **kwargs):
        raise ValueError("nothing to draw")

    monkeypatch.setattr(sso.pl, "support", cannot_draw)
    index = sso.report.write_report(adata, tmp_path)
    text = index.read_text(encoding="utf-8")
    assert "drug_1: no gene was selected" in text
    assert "did not converge" in text  # 60 iterations end at the iteration limit
    assert "Figure not drawn: nothing to draw" in text
    assert not (tmp_path / "support.png").exists()
    assert parse(index).sections["drug_1"]["genes"]  # the best-ranked genes instead
    assert (tmp_path / "drug_1" / "genes.tsv").is_file()


def test_folder_names_are_safe_and_unique(tmp_path):
    adata = sso.datasets.synthetic_perturbation(n_cells=40, n_genes=8, n_perturbed=2, n_drugs=2, seed=2)
    adata.obs["drug"] = adata.obs["drug"].astype(str).replace({"drug_1": "Dex 10 µM", "drug_2": "Dex 10 µm"})
    sso.tl.sparse_ot(adata, config=TINY, lam=1.0, fdr=None, progress=False)
    index = sso.report.write_report(adata, tmp_path)
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert folders == ["Dex_10__M", "Dex_10__m_2"]
    assert set(parse(index).sections) == {"Dex 10 µM", "Dex 10 µm"}


# ------------------------------------------------------------------------------- headless browser
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.skipif(
    _chromium() is None,
    reason="no headless Chromium found (chromium, chromium-browser or google-chrome on PATH); "
    "install Debian's 'chromium' package (.ci/run does where it can) to render the report",
)
def test_report_renders_in_headless_chromium(fitted_small, report_dir, tmp_path):
    browser = _chromium()
    url = (report_dir / "index.html").resolve().as_uri()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "page.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,2000", f"--screenshot={shot}", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels[..., :3].std() > 0.05  # a rendered page, not a blank one
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True
    ).stdout
    page = _Page()
    page.feed(dom)
    assert set(page.sections) == {"drug_1", "drug_2"}
    for drug, section in page.sections.items():
        selected = sso.get.perturbed_genes(fitted_small, target=drug, selected_only=True)["gene"].tolist()
        assert section["genes"] == selected
        assert section["images"] == 3


# ------------------------------------------------------------------ warnings recorded by the fit
def _with_constant_gene() -> ad.AnnData:
    adata = sso.datasets.synthetic_perturbation(n_cells=40, n_genes=8, n_perturbed=2, seed=3)
    adata.X[:, 0] = 1.0
    return adata


def test_fit_records_its_warnings():
    adata = _with_constant_gene()
    with pytest.warns(UserWarning, match="constant in the source") as caught:
        sso.tl.sparse_ot(adata, config=TINY, lam=1.0, fdr=None, progress=False)
    recorded = sso.get.fit_warnings(adata)
    assert len(recorded) == 1 and "constant in the source" in recorded[0]
    assert recorded == [str(w.message) for w in caught]  # still raised to the caller, exactly once


def test_recorded_warnings_round_trip(tmp_path):
    adata = _with_constant_gene()
    with pytest.warns(UserWarning, match="constant"):
        sso.tl.sparse_ot(adata, config=TINY, lam=1.0, fdr=None, progress=False)
    adata.write_h5ad(tmp_path / "w.h5ad")
    back = ad.read_h5ad(tmp_path / "w.h5ad")
    assert_equal(back.uns["sparse_ot"]["warnings"], adata.uns["sparse_ot"]["warnings"])
    assert sso.get.fit_warnings(back) == sso.get.fit_warnings(adata)


def test_no_warnings_recorded_as_empty(fitted_small, tmp_path):
    assert sso.get.fit_warnings(fitted_small) == []
    fitted_small.write_h5ad(tmp_path / "n.h5ad")
    assert sso.get.fit_warnings(ad.read_h5ad(tmp_path / "n.h5ad")) == []
    older = fitted_small.copy()
    del older.uns["sparse_ot"]["warnings"]  # results written before warnings were recorded
    assert sso.get.fit_warnings(older) == []


def test_warning_as_error_still_raises_and_writes_nothing():
    adata = _with_constant_gene()
    before = adata.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="constant"):
            sso.tl.sparse_ot(adata, config=TINY, lam=1.0, fdr=None, progress=False)
    assert_equal(adata, before)


def test_ignored_warnings_are_not_recorded_and_copy_gets_them():
    adata = _with_constant_gene()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sso.tl.sparse_ot(adata, config=TINY, lam=1.0, fdr=None, progress=False)
    assert sso.get.fit_warnings(adata) == []
    with pytest.warns(UserWarning, match="constant"):
        out = sso.tl.sparse_ot(
            adata, config=TINY, lam=1.0, fdr=None, progress=False, copy=True, key_added="k"
        )
    assert len(sso.get.fit_warnings(out, key="k")) == 1
    assert "k" not in adata.uns


def test_fitting_names_the_failed_target():
    with pytest.raises(RuntimeError, match="boom") as info, fitting("drug_2"):
        raise RuntimeError("boom")
    assert failed_target(info.value) == "drug_2"
    assert failed_target(RuntimeError("other")) is None


# ------------------------------------------------------------------------------ get and pl additions
def test_get_params_and_response(fitted_small):
    p = sso.get.params(fitted_small)
    assert p["groupby"] == "drug" and p["targets"] == ["drug_1", "drug_2"] and p["lam"] == 1.0
    p["groupby"] = "changed"
    assert sso.get.params(fitted_small)["groupby"] == "drug"

    df = sso.get.response(fitted_small, groupby="cell_type")
    assert df.columns.tolist() == ["target", "cell", "side", "group", "response", "moved"]
    drug = fitted_small.obs["drug"].astype(str)
    n_control = int((drug == "control").sum())
    n_treated = int((drug == "drug_1").sum() + (drug == "drug_2").sum())
    assert len(df) == 2 * n_control + n_treated  # the control cells once per target, each target's own cells
    assert set(df["group"]) == {"B cell", "T cell"}
    one = sso.get.response(fitted_small, target="drug_1")
    src = one[one["side"] == "source"]
    assert (src["group"] == "control").all() and (one.loc[one["side"] == "target", "group"] == "drug_1").all()
    score = fitted_small.obs["sparse_ot_response_drug_1"].to_numpy(float)
    np.testing.assert_array_equal(src["response"].to_numpy(), score[drug == "control"])
    np.testing.assert_array_equal(
        one.loc[one["side"] == "target", "response"].to_numpy(), score[drug == "drug_1"]
    )
    assert np.isnan(score[drug == "drug_2"]).all()  # another target's cells get no drug_1 score
    assert (one["moved"] == (one["response"] > 0)).all()
    with pytest.raises(KeyError, match="groupby='nope'"):
        sso.get.response(fitted_small, groupby="nope")
    with pytest.raises(KeyError, match="drug_9"):
        sso.get.response(fitted_small, target="drug_9")


def test_pl_response(fitted_small):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = sso.pl.response(fitted_small, target="drug_2", groupby="cell_type", return_fig=True)
    assert isinstance(fig, Figure)
    plt.close(fig)
    _, ax = plt.subplots()
    assert sso.pl.response(fitted_small, target="drug_1", ax=ax) is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["all cells"]
    plt.close("all")
    with pytest.raises(ValueError, match="pick one with target="):
        sso.pl.response(fitted_small, show=False)


def test_note_on_a_default_fit_stopped_at_the_iteration_limit(tmp_path):
    adata = sso.datasets.synthetic_perturbation(n_cells=120, n_genes=12, n_perturbed=3, intensity=3.0, seed=0)
    sso.tl.sparse_ot(adata, n_iters=10, progress=False)
    assert not sso.get.summary(adata)["converged"][0]
    text = sso.report.write_report(adata, tmp_path).read_text(encoding="utf-8")
    assert "tests and do not depend on it, the displacements may change" in text
    assert "may change its genes" not in text


def test_gene_tables_show_log_fc_only_for_log_normalised_data(tmp_path):
    adata = sso.datasets.synthetic_perturbation(n_cells=120, n_genes=12, n_perturbed=3, intensity=3.0, seed=0)
    adata.X = np.clip(adata.X, 0.0, None)
    sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    assert "log2 FC" not in sso.report.write_report(adata, tmp_path / "a").read_text(encoding="utf-8")
    adata.uns["log1p"] = {"base": None}
    sso.tl.sparse_ot(adata, n_iters=0, progress=False)
    assert "log2 FC" in sso.report.write_report(adata, tmp_path / "b").read_text(encoding="utf-8")
