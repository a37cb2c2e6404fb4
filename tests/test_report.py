"""distnet.report (with distnet.analyze, distnet.plots and distnet.published): statistics against scipy and hand
computations, and the whole analyze -> report path on the smoke run folder."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from distnet import analyze, models, report, runs
from distnet.published import PUBLISHED

A = [0.951, 0.948, 0.955, 0.949, 0.953]
B = [0.940, 0.947, 0.944, 0.950, 0.938]


def test_t_tests_match_scipy():
    w = report.welch(A, B)
    ref = sps.ttest_ind(A, B, equal_var=False)
    assert w["t"] == pytest.approx(ref.statistic) and w["p"] == pytest.approx(ref.pvalue)
    p = report.paired(A, B)
    ref = sps.ttest_rel(A, B)
    assert p["t"] == pytest.approx(ref.statistic) and p["p"] == pytest.approx(ref.pvalue) and p["df"] == 4


def test_cohens_d_by_hand():
    # means 2 and 4, both variances 2.5 with ddof=1 -> pooled sd sqrt(2.5), d = -2 / sqrt(2.5)
    assert report.cohens_d([0, 1, 2, 3, 4], [2, 3, 4, 5, 6]) == pytest.approx(-2 / np.sqrt(2.5))


def test_holm_by_hand():
    # sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> kept monotone at 0.06
    np.testing.assert_allclose(report.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(report.holm([0.5, 0.9]), [1.0, 1.0])


def test_plateau_epoch():
    loss = np.array([[10, 5, 2, 1.0, 1.0, 1.0], [10, 5, 2, 1.0, 1.0, 1.0]])
    assert report.plateau_epoch(np.arange(6) * 10, loss) == 30


def test_published_numbers_cover_every_variant_and_match_the_paper():
    assert set(PUBLISHED) == set(models.NAMES)
    assert PUBLISHED["ReLU2"]["Table 1"] == (56.31, 19.31, 5000)
    assert PUBLISHED["ReLU2"]["discussion text and notes"] == (47.20, 12.00, 5000)
    assert PUBLISHED["ReLU2-Bias"]["Table 2"] == (39.94, 18.84, 5000)
    assert PUBLISHED["Abs-L2"]["Table 3"] == (97.61, 0.07, 50000)
    assert len(PUBLISHED["Abs2-Neg"]) == 3


@pytest.fixture(scope="module")
def analyzed(smoke_run):
    assert analyze.main([str(smoke_run)]) == 0
    return smoke_run


def test_analyze_writes_every_statistic(analyzed):
    s = runs.load_stats(runs.variant_dir(analyzed, "ReLU"))
    assert set(s) >= {"cheap", "class_distributions", "histogram", "output_geometry", "prototypes",
                      "perturbation", "noise"}
    assert np.asarray(s["class_distributions"]["mean"]).shape == (2, 10, 16)
    frac = np.asarray(s["activity_fraction"]["train"]["hidden_post"])
    assert frac.shape == (2, 16) and np.sum(frac == 0, axis=1).tolist() == s["cheap"]["activity"]["train"][
        "hidden_post"]["dead"]
    assert np.asarray(s["prototypes"]["hyperplane_distance"]).shape == (2, 10, 10)
    probe = s["perturbation"]["hidden_post"]
    summary = runs.read_json(runs.variant_dir(analyzed, "ReLU") / "summary.json")
    np.testing.assert_allclose(probe["below"][0][0], summary["final_test_acc"][0], atol=1e-6)   # clamp at 0
    np.testing.assert_allclose(s["noise"]["accuracy"][0][0], summary["final_test_acc"][0], atol=1e-6)
    assert s["cheap"] == summary["stats"]          # analyze recomputes exactly what training recorded


def test_report_writes_tables_json_latex_and_figures(analyzed, tmp_path):
    assert report.main([str(analyzed), "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert [v["name"] for v in rep["variants"]] == ["Abs2-Neg", "ReLU"]
    pair = rep["pairs"][0]
    x, y = (np.asarray(v["test_acc_per_seed"]) for v in rep["variants"])
    assert pair["welch"]["p"] == pytest.approx(sps.ttest_ind(x, y, equal_var=False).pvalue)
    assert pair["paired"]["p"] == pytest.approx(sps.ttest_rel(x, y).pvalue)
    assert all(not r["comparable"] for r in rep["published"])      # 20 epochs on Gaussians is no reproduction
    assert len(rep["published"]) == 6
    md = (tmp_path / "report.md").read_text()
    assert "no (short run)" in md and "Welch" in md and "Dead and rarely active" in md
    assert "\\begin{tabular}" in (tmp_path / "report.tex").read_text()
    for f in rep["figures"]:
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
    assert {"learning_curves.png", "dead_units.png", "perturbation.png", "noise.png"} <= \
        {p.name for p in (tmp_path / "figures").iterdir()}


def test_report_merges_folders(analyzed, tmp_path):
    rep = report.write([analyzed, analyzed], tmp_path, log=lambda *a: None)
    names = [v["name"] for v in rep["variants"]]
    assert len(names) == 4 and names[2] == f"Abs2-Neg [{analyzed.name}]"
    assert len(rep["pairs"]) == 6


@pytest.mark.parametrize("cli", [analyze.main, report.main])
def test_clis_refuse_a_folder_that_is_not_a_run(cli, tmp_path, capsys):
    assert cli([str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
