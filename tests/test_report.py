"""distnet.report (with distnet.analyze, distnet.plots and distnet.published): statistics against scipy and hand
computations, and the whole analyze -> report path on the smoke run folder."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy import stats as sps

from distnet import analyze, models, report, runs
from distnet.published import PUBLISHED, SEEDS

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
def analyzed(smoke_run, tmp_path_factory):
    """An analyzed copy of the smoke run (the session's smoke_run itself stays as training left it)."""
    run = tmp_path_factory.mktemp("analyzed") / "smoke"
    shutil.copytree(smoke_run, run)
    assert analyze.main([str(run)]) == 0
    return run


def test_analyzing_leaves_the_shared_smoke_run_alone(analyzed, smoke_run):
    assert runs.load_stats(runs.variant_dir(analyzed, "ReLU")).keys() > {"cheap"}
    assert not (runs.variant_dir(smoke_run, "ReLU") / runs.STATS_FILE).exists()


def test_fresh_goes_by_the_recorded_step_not_file_times(analyzed, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    vdir = runs.variant_dir(run, "ReLU")
    assert analyze._fresh(vdir)
    sidecar = vdir / "checkpoints" / f"{runs.read_json(vdir / runs.STATS_FILE)['step']}.json"
    sidecar.write_text(sidecar.read_text())         # newer than stats.json, same step: still fresh
    assert analyze._fresh(vdir)
    s = runs.read_json(vdir / runs.STATS_FILE)
    runs.write_json(vdir / runs.STATS_FILE, {**s, "step": s["step"] - 1})   # newer file, older step: stale
    assert not analyze._fresh(vdir)


PAPER = {"epochs": 5000, "seeds": 20, "seed": 0, "data": "mnist", "preprocess": "raw", "n_train": 60000,
         "n_test": 10000, "lr": 1e-3, "hidden": 128}


def _record(protocol, accs, variant="ReLU", status="complete"):
    acc = np.asarray(accs, np.float64)
    m = {"epoch": np.array([0, protocol["epochs"]]), "test_acc": np.stack([acc * 0, acc], 1),
         "train_acc": np.stack([acc * 0, acc], 1), "train_loss": np.stack([acc * 0 + 2, acc * 0 + 1], 1)}
    return {"name": variant, "variant": variant, "dir": "x", "status": status, "protocol": protocol,
            "summary": {"status": status, "epochs": protocol["epochs"]}, "metrics": m, "stats": None}


def test_the_paper_protocol_exactly_is_comparable_and_gets_a_welch_test_against_the_paper():
    accs = 0.9662 + 0.0017 * np.linspace(-1.5, 1.5, SEEDS)
    for p in (PAPER, {**PAPER, "n_train": 0, "n_test": 0, "seeds": 25}):
        row = next(r for r in report.published_rows([_record(p, accs)]) if r["version"] == "Table 1")
        assert row["comparable"] and row["differences"] == []
        ref = sps.ttest_ind_from_stats(100 * accs.mean(), 100 * accs.std(ddof=1), len(accs), 96.62, 0.17, 20,
                                       equal_var=False)
        assert row["welch_vs_paper"]["p"] == pytest.approx(ref.pvalue)


@pytest.mark.parametrize("field, value, says", [
    ("epochs", 200, "epochs 200 vs 5000"), ("epochs", 50000, "epochs 50000 vs 5000"), ("lr", 0.01, "lr 0.01 vs 0.001"),
    ("hidden", 64, "hidden 64 vs 128"), ("n_train", 10000, "n_train 10000 vs 60000"),
    ("n_test", 500, "n_test 500 vs 10000"), ("data", "gaussians", "data gaussians vs mnist"),
    ("preprocess", "standardize", "preprocess standardize vs raw"), ("seeds", 3, "seeds 3 vs 20")])
def test_any_protocol_difference_is_not_comparable_and_is_named(field, value, says):
    accs = np.full(SEEDS if field != "seeds" else 3, 0.96)
    row = next(r for r in report.published_rows([_record({**PAPER, field: value}, accs)]) if r["version"] == "Table 1")
    assert not row["comparable"] and row["differences"] == [says] and row["welch_vs_paper"] is None
    md = report.markdown({"dirs": [], "variants": [], "diverged": [], "pairs": [], "published": [row]}, [])
    assert f"no (short run: {says})" in md


def test_half_point_says_how_many_seeds_halve():
    rec = _record(PAPER, [0.9, 0.9, 0.9])
    rec["stats"] = {"perturbation": {l: {"half_below": [0.4, None, 0.6], "half_above": [None] * 3}
                                     for l in ("hidden_post", "output_post")}}
    hp = report.variant_row(rec)["half_point"]["hidden_post"]
    assert hp["below"] == {"mean": pytest.approx(0.5), "halved": 2, "seeds": 3}
    assert hp["above"] == {"mean": None, "halved": 0, "seeds": 3}
    md = report.markdown({"dirs": [], "variants": [report.variant_row(rec)], "diverged": [], "pairs": [],
                          "published": []}, [])
    assert "0.50 (2/3 seeds halve) | n/a (0/3 seeds halve)" in md


@pytest.fixture
def diverged_run(analyzed, tmp_path):
    """A copy of the analyzed smoke run whose ReLU diverged at epoch 10 for seed 1 (NaN from then on)."""
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    vdir = runs.variant_dir(run, "ReLU")
    (vdir / runs.STATS_FILE).unlink()
    m = runs.load_metrics(vdir)
    keep = m["epoch"] <= 10
    m = {"epoch": m["epoch"][keep], **{k: m[k][:, keep] for k in runs.METRICS}}
    for k in runs.METRICS:
        m[k][1, -1] = np.nan
    runs.save_metrics(vdir, m["epoch"], m)
    s = {**runs.variant_summary("ReLU", m, 1.0, seeds=2, seed=0), "status": "diverged", "diverged_seeds": [1],
         "diverged_epoch": 10}
    runs.write_json(vdir / "summary.json", s)
    return run


def test_a_diverged_variant_is_shown_as_such_and_left_out_of_the_tests(diverged_run, tmp_path):
    assert report.main([str(diverged_run), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.json").read_text()
    rep = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in report.json"))
    relu = next(v for v in rep["variants"] if v["name"] == "ReLU")
    assert relu["status"] == "diverged" and relu["protocol"]["epochs"] == 10     # from the summary, not the config
    assert relu["test_acc"]["mean"] is None
    assert rep["diverged"] == ["ReLU"] and rep["pairs"] == []
    assert {r["name"] for r in rep["published"]} == {"Abs2-Neg"}
    md = (tmp_path / "report.md").read_text()
    assert "| ReLU | diverged | 10 |" in md and "**Diverged**" in md and "| Abs2-Neg | complete |" in md
    logs = []
    assert analyze.analyze(diverged_run, log=logs.append) == []
    assert any(line.startswith("ReLU: diverged") for line in logs)


def test_clis_turn_a_damaged_run_or_an_unknown_variant_into_one_line(analyzed, tmp_path, capsys):
    assert analyze.main([str(analyzed), "--variants", "ReLU,Nope"]) == 2
    assert capsys.readouterr().err.startswith("error: no variant Nope in ")
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    (runs.variant_dir(run, "ReLU") / "metrics.npz").write_bytes(b"not a zip")
    assert report.main([str(run), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    (runs.variant_dir(run, "ReLU") / "metrics.npz").unlink()
    cfg = runs.read_json(runs.variant_dir(run, "ReLU") / "config.json")
    del cfg["config"]["lr"]
    runs.write_json(runs.variant_dir(run, "ReLU") / "config.json", cfg)
    shutil.copy(runs.variant_dir(analyzed, "ReLU") / "metrics.npz", runs.variant_dir(run, "ReLU") / "metrics.npz")
    assert report.main([str(run), "--out", str(tmp_path)]) == 2
    assert "lacks the field 'lr'" in capsys.readouterr().err


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
    assert "no (short run: epochs 20 vs 5000; lr 0.05 vs 0.001; hidden 16 vs 128" in md and "Welch" in md and "Dead and rarely active" in md
    assert "what the paper runs" not in md and "| ReLU | complete |" in md
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
