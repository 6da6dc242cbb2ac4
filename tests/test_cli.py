from __future__ import annotations

import anndata as ad
import pytest

import scsparseot as sso
from scsparseot import cli


@pytest.mark.slow
def test_demo_recovers_genes_and_writes(tmp_path, capsys):
    out = tmp_path / "demo.h5ad"
    assert cli.main(["demo", "--device", "cpu", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for drug in ("drug_1", "drug_2", "drug_3"):
        assert f"{drug}:" in text
    assert "recall 1.00" in text
    adata = ad.read_h5ad(out)
    assert list(adata.uns["sparse_ot"]["summary"].index) == ["drug_1", "drug_2", "drug_3"]


def test_fit_round_trip(synthetic, tmp_path, capsys):
    src = tmp_path / "in.h5ad"
    dst = tmp_path / "out.h5ad"
    synthetic.write_h5ad(src)
    code = cli.main(
        [
            "fit",
            str(src),
            "--out",
            str(dst),
            "--target",
            "drug_1",
            "--lam",
            "1",
            "--n-iters",
            "150",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    back = ad.read_h5ad(dst)
    top = set(sso.get.perturbed_genes(back).head(4)["gene"])
    assert top == set(synthetic.uns["true_genes"]["drug_1"])
    assert "drug_1" in capsys.readouterr().out


def test_fit_bad_input_exits_2(synthetic, tmp_path, capsys):
    src = tmp_path / "in.h5ad"
    synthetic.write_h5ad(src)
    code = cli.main(["fit", str(src), "--out", str(tmp_path / "o.h5ad"), "--groupby", "nope"])
    assert code == 2
    assert "groupby='nope'" in capsys.readouterr().err
    assert not (tmp_path / "o.h5ad").exists()


def test_usage_errors():
    with pytest.raises(SystemExit):
        cli.main([])
    with pytest.raises(SystemExit):
        cli.main(["demo", "--lam", "strong"])
