from __future__ import annotations

import re

import anndata as ad
import pytest

import scsparseot as sso
from scsparseot import cli

FAST = ["--lam", "1", "--n-iters", "60", "--fdr", "none", "--device", "cpu"]


@pytest.fixture
def h5ad(synthetic, tmp_path):
    src = tmp_path / "in.h5ad"
    synthetic.write_h5ad(src)
    return src


def test_demo_check_needs_precision_and_recall():
    truth = {"a", "b", "c", "d"}
    assert cli.demo_check(["a", "b", "c", "d"], truth) == (1.0, 1.0, True)
    assert cli.demo_check([*truth, "x"], truth)[2]  # precision 0.8 passes
    every_gene = [*truth, *(f"g{i}" for i in range(50))]
    precision, recall, ok = cli.demo_check(every_gene, truth)
    assert recall == 1.0 and precision < 0.1 and not ok  # selecting every gene must not pass
    assert not cli.demo_check(["a", "b", "c"], truth)[2]  # a missed gene fails
    assert not cli.demo_check([], truth)[2]


@pytest.mark.slow
def test_demo_recovers_genes_and_writes(tmp_path, capsys):
    out = tmp_path / "demo.h5ad"
    code = cli.main(["demo", "--device", "cpu", "--out", str(out), "--report", str(tmp_path / "report")])
    text = capsys.readouterr().out
    for drug in ("drug_1", "drug_2", "drug_3"):
        assert f"{drug}:" in text
    scores = re.findall(r"precision (\d\.\d\d), recall (\d\.\d\d)", text)
    assert len(scores) == 3
    assert all(float(p) >= cli.DEMO_MIN_PRECISION and float(r) == 1.0 for p, r in scores)
    assert "Demo check passed" in text
    assert code == 0
    adata = ad.read_h5ad(out)
    assert list(adata.uns["sparse_ot"]["summary"].index) == ["drug_1", "drug_2", "drug_3"]
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "report" / "drug_3" / "genes.tsv").is_file()


def test_fit_round_trip(synthetic, h5ad, tmp_path, capsys):
    dst = tmp_path / "out.h5ad"
    code = cli.main(
        ["fit", str(h5ad), "--out", str(dst), "--target", "drug_1", "--lam", "1", "--n-iters", "150"]
    )
    assert code == 0
    back = ad.read_h5ad(dst)
    top = set(sso.get.perturbed_genes(back).head(4)["gene"])
    assert top == set(synthetic.uns["true_genes"]["drug_1"])
    out = capsys.readouterr().out
    assert "drug_1" in out
    # stdout is not a terminal here: one progress line per drug, no carriage returns
    assert re.search(r"^\[\d\d:\d\d:\d\d\] fitted 'drug_1' in [\d.]+ s", out, flags=re.MULTILINE)
    assert "\r" not in out


def test_fit_options_reach_the_fit(synthetic, h5ad, tmp_path, capsys):
    genes = list(synthetic.var_names[:12])
    gene_file = tmp_path / "genes.txt"
    gene_file.write_text("# genes to fit\n" + "\n".join(genes) + "\n\n")
    dst = tmp_path / "out.h5ad"
    args = [
        "fit", str(h5ad), "--out", str(dst), "--genes", str(gene_file), "--min-support", "0.2",
        "--support-tol", "0.05", "--n-runs", "0", "--penalty", "l1", "--seed", "3", "--batch-size", "64",
        "--key-added", "ot", "--checkpoint-dir", str(tmp_path / "ckpt"), "--report", str(tmp_path / "rep"),
        *FAST,
    ]  # fmt: skip
    assert cli.main(args) == 0
    p = sso.get.params(ad.read_h5ad(dst), key="ot")
    assert p["genes"] == genes
    assert (p["min_support"], p["support_tol"], p["fdr"], p["penalty"], p["seed"]) == (
        0.2,
        0.05,
        None,
        "l1",
        3,
    )
    assert (p["n_iters"], p["batch_size"], p["lam"]) == (60, 64, 1.0)
    assert p["checkpoint_dir"] == str(tmp_path / "ckpt")
    assert sorted(f.name for f in (tmp_path / "ckpt").iterdir())
    assert (tmp_path / "rep" / "index.html").is_file()
    # a rerun resumes both drugs from the checkpoints
    capsys.readouterr()
    assert cli.main(args) == 0
    assert capsys.readouterr().out.count("from its checkpoint") == 2


def test_fit_highly_variable(synthetic, tmp_path):
    adata = synthetic.copy()
    adata.var["highly_variable"] = False
    adata.var.iloc[:10, adata.var.columns.get_loc("highly_variable")] = True
    src, dst = tmp_path / "hv.h5ad", tmp_path / "out.h5ad"
    adata.write_h5ad(src)
    assert (
        cli.main(
            ["fit", str(src), "--out", str(dst), "--genes", "highly_variable", "--target", "drug_2", *FAST]
        )
        == 0
    )
    assert sso.get.params(ad.read_h5ad(dst))["genes"] == list(adata.var_names[:10])


@pytest.mark.slow
def test_fit_jobs_match_one_thread(h5ad, tmp_path, capsys):
    import torch

    threads = torch.get_num_threads()
    one, two = tmp_path / "one.h5ad", tmp_path / "two.h5ad"
    try:
        torch.set_num_threads(1)
        assert cli.main(["fit", str(h5ad), "--out", str(one), *FAST]) == 0
        assert cli.main(["fit", str(h5ad), "--out", str(two), "--jobs", "2", *FAST]) == 0
    finally:
        torch.set_num_threads(threads)
    a, b = sso.get.perturbed_genes(ad.read_h5ad(one)), sso.get.perturbed_genes(ad.read_h5ad(two))
    assert a.equals(b)
    out = capsys.readouterr().out
    assert "fitted 'drug_1' (" in out and "fitted 'drug_2' (" in out


def test_fit_failure_exits_1_naming_the_drug(h5ad, tmp_path, capsys, monkeypatch):
    from scsparseot.tl import _sparse_ot

    real = _sparse_ot.fit_target

    def fails_on_drug_2(x, y, spec, seed, genes, callback=None):
        if y.shape[0] and seed == sso.core.named_seed(0, "drug_2"):
            raise RuntimeError("out of memory on the device")
        return real(x, y, spec, seed, genes, callback)

    monkeypatch.setattr(_sparse_ot, "fit_target", fails_on_drug_2)
    dst = tmp_path / "o.h5ad"
    assert cli.main(["fit", str(h5ad), "--out", str(dst), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: the fit for 'drug_2' failed: RuntimeError: out of memory on the device"
    assert not dst.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--groupby", "nope"], "groupby='nope' is not a column of adata.obs"),
        (["--source", "ctrl"], "source='ctrl' is not a value of adata.obs['drug']"),
        (["--target", "drug_9"], "target 'drug_9' not found"),
        (["--genes", "highly_variable"], "needs adata.var['highly_variable']"),
        (["--genes", "no_such_file.txt"], "neither 'highly_variable' nor an existing file"),
        (["--layer", "counts"], "counts"),
        (["--max-genes", "1000"], "max_genes must be a number between 0 and the number of fitted genes"),
        (["--method", "exact", "--lam", "1"], "method='exact' does not use lam=1.0; leave it unset"),
        (["--method", "elastic", "--penalty", "l1"], "method='elastic' does not use penalty='l1'"),
    ],
)
def test_fit_bad_input_exits_2(h5ad, tmp_path, capsys, extra, message):
    dst = tmp_path / "o.h5ad"
    assert cli.main(["fit", str(h5ad), "--out", str(dst), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not dst.exists()


def test_missing_files_exit_2(h5ad, tmp_path, capsys):
    assert cli.main(["fit", str(tmp_path / "missing.h5ad"), "--out", str(tmp_path / "o.h5ad")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["fit", str(h5ad), "--out", str(tmp_path / "no" / "dir" / "o.h5ad")]) == 2
    assert "create it first" in capsys.readouterr().err
    not_h5 = tmp_path / "text.h5ad"
    not_h5.write_text("not hdf5")
    assert cli.main(["report", str(not_h5), "--out", str(tmp_path / "r")]) == 2
    assert "cannot read" in capsys.readouterr().err
    unfitted_genes = tmp_path / "genes.txt"
    unfitted_genes.write_text("not_a_gene\n")
    assert (
        cli.main(["fit", str(h5ad), "--out", str(tmp_path / "o.h5ad"), "--genes", str(unfitted_genes)]) == 2
    )
    assert "not_a_gene" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["demo", "--lam", "strong"],
        ["fit", "in.h5ad"],  # --out is required
        ["fit", "in.h5ad", "--out", "o.h5ad", "--fdr", "2"],
        ["fit", "in.h5ad", "--out", "o.h5ad", "--min-support", "1.5"],
        ["fit", "in.h5ad", "--out", "o.h5ad", "--n-runs", "-1"],
        ["fit", "in.h5ad", "--out", "o.h5ad", "--jobs", "0"],
        ["fit", "in.h5ad", "--out", "o.h5ad", "--support-tol", "0"],
        ["fit", "in.h5ad", "--out", "o.h5ad", "--lam", "-1"],
        ["fit", "in.h5ad", "--out", "o.h5ad", "--penalty", "l2"],
        ["report", "r.h5ad"],  # --out is required
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_every_option_documented_with_its_default(capsys):
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.choices and "fit" in a.choices).choices
    assert set(subparsers) == {"fit", "report", "demo"}
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
        formatter = sub._get_formatter()
        for action in sub._actions:
            if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
                shown = formatter._get_help_string(action) % {"default": action.default}
                assert "(default: " in shown, f"{name} {action.option_strings[-1]}: default not shown"
    with pytest.raises(SystemExit):
        subparsers["fit"].parse_args(["--help"])
    assert "(default: drug)" in " ".join(capsys.readouterr().out.split())
    fit_help = subparsers["fit"].format_help()
    for flag in (
        "--genes",
        "--fdr",
        "--min-support",
        "--n-runs",
        "--support-tol",
        "--jobs",
        "--checkpoint-dir",
    ):
        assert flag in fit_help


def test_report_command(fitted, tmp_path, capsys):
    fitted.obs["cell_type"] = ["a", "b"] * (fitted.n_obs // 2)
    src = tmp_path / "fitted.h5ad"
    fitted.write_h5ad(src)
    out = tmp_path / "report"
    assert cli.main(["report", str(src), "--out", str(out), "--groupby", "cell_type", "--top-n", "5"]) == 0
    assert "index.html" in capsys.readouterr().out
    assert (out / "drug_2" / "response.png").is_file()
    assert "fitted.h5ad" in (out / "index.html").read_text(encoding="utf-8")
    assert cli.main(["report", str(src), "--out", str(tmp_path / "r2"), "--groupby", "nope"]) == 2
    assert "groupby='nope'" in capsys.readouterr().err
    assert cli.main(["report", str(src), "--out", str(tmp_path / "r3"), "--key", "other"]) == 2
    assert "No scsparseot results under adata.uns['other']" in capsys.readouterr().err
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()
