"""distnet.analysis.report: the whole analyze -> report path on the smoke run folder, and its command line."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from distnet.run import checkpoint, files, folder, summary
from distnet.analysis import analyze, report, report_files

from helpers import DAMAGED_FILES as DAMAGE


@pytest.fixture
def diverged_run(analyzed, tmp_path):
    """A copy of the analyzed smoke run whose ReLU diverged at epoch 10 for seed 1 (NaN from then on)."""
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    vdir = folder.variant_dir(run, "ReLU")
    (vdir / folder.STATS_FILE).unlink()
    m = folder.load_metrics(vdir)
    keep = m["epoch"] <= 10
    m = {"epoch": m["epoch"][keep], **{k: m[k][:, keep] for k in folder.METRICS}}
    for k in folder.METRICS:
        m[k][1, -1] = np.nan
    folder.save_metrics(vdir, m["epoch"], m)
    s = {**summary.variant_summary("ReLU", m, 1.0, seeds=2, seed=0), "status": "diverged", "diverged_seeds": [1],
         "diverged_epoch": 10}
    files.write_json(vdir / "summary.json", s)
    return run


def test_a_diverged_variant_is_shown_as_such_and_left_out_of_the_tests(diverged_run, tmp_path):
    assert report.main([str(diverged_run), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report" / "report.json").read_text()
    rep = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in report.json"))
    relu = next(v for v in rep["variants"] if v["name"] == "ReLU")
    assert relu["status"] == "diverged" and relu["protocol"]["epochs"] == 10     # from the summary, not the config
    assert relu["test_acc"]["mean"] is None
    assert rep["diverged"] == ["ReLU"] and rep["pairs"] == []
    assert {r["name"] for r in rep["published"]} == {"Abs2-Neg"}
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| ReLU | diverged | 10 |" in md and "**Diverged**" in md and "| Abs2-Neg | complete |" in md
    logs = []
    assert analyze.analyze(diverged_run, log=logs.append) == []
    assert any(line.startswith("ReLU: diverged") for line in logs)


def test_clis_turn_a_damaged_run_or_an_unknown_variant_into_one_line(analyzed, tmp_path, capsys):
    assert analyze.main([str(analyzed), "--variants", "ReLU,Nope"]) == 2
    assert capsys.readouterr().err.startswith("error: no variant Nope in ")
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    (folder.variant_dir(run, "ReLU") / "metrics.npz").write_bytes(b"not a zip")
    assert report.main([str(run), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    (folder.variant_dir(run, "ReLU") / "metrics.npz").unlink()
    cfg = folder.read_json(folder.variant_dir(run, "ReLU") / "config.json")
    del cfg["config"]["hidden"]      # (not lr: the lanes record in config.json carries each lane's lr)
    files.write_json(folder.variant_dir(run, "ReLU") / "config.json", cfg)
    shutil.copy(folder.variant_dir(analyzed, "ReLU") / "metrics.npz", folder.variant_dir(run, "ReLU") / "metrics.npz")
    assert report.main([str(run), "--out", str(tmp_path)]) == 2
    assert "lacks the field 'hidden'" in capsys.readouterr().err


def test_report_writes_tables_json_latex_and_figures(analyzed, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # none leaks (Abs2-Neg's two seeds score the same here)
        assert report.main([str(analyzed), "--out", str(tmp_path)]) == 0
    rep = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [v["name"] for v in rep["variants"]] == ["ReLU", "Abs2-Neg"]          # the paper's order
    pair = rep["pairs"][0]
    x, y = (np.asarray(v["test_acc_per_seed"]) for v in rep["variants"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # scipy's false alarm on a sample whose values are all the same
        assert pair["welch"]["p"] == pytest.approx(sps.ttest_ind(x, y, equal_var=False).pvalue)
        assert pair["paired"]["p"] == pytest.approx(sps.ttest_rel(x, y).pvalue)
    assert all(not r["comparable"] for r in rep["published"])      # 20 epochs on Gaussians is no reproduction
    assert len(rep["published"]) == 6
    md = (tmp_path / "report" / "report.md").read_text()
    assert "No variant here follows the paper's protocol (data gaussians vs mnist; epochs 20 vs 5000; hidden 16 vs 128" in md
    assert "Welch" in md and "Dead and rarely active" in md
    assert "what the paper runs" not in md and "| ReLU | complete |" in md
    assert "\\begin{tabular}" in (tmp_path / "report" / "report.tex").read_text()
    for f in rep["figures"]:
        assert (tmp_path / "report" / f).read_bytes()[:4] == b"\x89PNG"
    figures = {p.name for p in (tmp_path / "report" / "figures").iterdir()}
    assert {"learning_curves.png", "dead_units.png", "perturbation.png", "noise.png", "ood_auroc.png"} <= figures
    assert "prototypes.png" not in figures   # Gaussians: no image grid
    geo = md[md.index("## Geometry against the known truth"):md.index("## Input-space prototypes")]
    rows = [line.split(" | ")[0] for line in geo.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == ["| analytic (Mahalanobis, from the truth)", "| ReLU", "| Abs2-Neg", "| untrained (ReLU, epoch 0)"]
    assert "## Outliers: AUROC" in md and "| Abs2-Neg | distance |" in md


def test_report_merges_folders_and_names_a_variant_seen_twice_by_its_folder(analyzed, tmp_path):
    rep = report.write([analyzed, analyzed], tmp_path, log=lambda *a: None)
    names = [v["name"] for v in rep["variants"]]
    assert names == ["ReLU", "Abs2-Neg", f"ReLU [{analyzed.name}]", f"Abs2-Neg [{analyzed.name}]"]
    assert len(rep["pairs"]) == 6


def test_unfinished_variants_are_named_with_their_epoch_and_figures_by_their_final_paths(analyzed, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    vdir = folder.variant_dir(run, "Abs2-Neg")              # stopped after epoch 15, its last checkpoint at 10
    folder.unfinish(vdir)
    m = folder.load_metrics(vdir)
    keep = m["epoch"] <= 15
    folder.save_metrics(vdir, m["epoch"][keep], {k: m[k][:, keep] for k in folder.METRICS})
    checkpoint.discard(vdir, [20])
    assert report.main([str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["report: 1 variant(s) from 1 folder(s); drawing figures",
                       "report: left out, unfinished: Abs2-Neg (epoch 15 of 20; resumes from its checkpoint at epoch "
                       "10) (rerun the train.py command that wrote the folder to finish them)"]
    figures = [Path(line.split("figure ", 1)[1]) for line in out if line.startswith("  figure ")]
    assert figures and all(f.parent == run / "report" / "figures" and f.is_file() for f in figures), figures
    rep = json.loads((run / "report" / "report.json").read_text())
    assert [v["name"] for v in rep["variants"]] == ["ReLU"]
    assert rep["unfinished"] == [{"name": "Abs2-Neg", "variant": "Abs2-Neg", "dir": str(vdir), "epoch": 15,
                                  "checkpoint": 10, "epochs": 20}]
    md = (run / "report" / "report.md").read_text()
    assert "Abs2-Neg (epoch 15 of 20; resumes from its checkpoint at epoch 10)." in md
    folder.unfinish(folder.variant_dir(run, "ReLU"))       # nothing finished: the error names what is unfinished
    assert report.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert f"error: no finished variant in {run} (unfinished: ReLU (epoch 20 of 20; resumes from its checkpoint " \
           f"at epoch 20), Abs2-Neg (epoch 15 of 20;" in err


@pytest.mark.parametrize("cli", [analyze.main, report.main])
def test_clis_refuse_a_folder_that_is_not_a_run(cli, tmp_path, capsys):
    assert cli([str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err




@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_each_damaged_run_file_is_one_line_naming_it_and_the_old_report_stays(analyzed, tmp_path, capsys, case):
    name, damage, says = DAMAGE[case]
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    assert report.main([str(run)]) == 0
    before = {p: p.read_bytes() for p in (run / "report").rglob("*") if p.is_file()}
    damage(run / "ReLU" / name)
    capsys.readouterr()
    assert report.main([str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'ReLU' / name} {says}") and err.count("\n") == 1, err
    assert before == {p: p.read_bytes() for p in (run / "report").rglob("*") if p.is_file()}


def test_a_report_that_fails_midway_leaves_the_previous_one_whole(analyzed, tmp_path, monkeypatch):
    assert report.main([str(analyzed), "--out", str(tmp_path)]) == 0
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file()}
    real = report_files.save_figure

    def second_figure_fails(into, name, fig, **k):
        if name == "final_accuracy":
            raise KeyboardInterrupt      # Ctrl-C while drawing
        return real(into, name, fig, **k)
    monkeypatch.setattr(report_files, "save_figure", second_figure_fails)
    with pytest.raises(KeyboardInterrupt):
        report.main([str(analyzed), "--out", str(tmp_path)])
    assert before == {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == [os.readlink(tmp_path / "report")]


def test_report_refuses_to_write_into_a_folder_another_process_writes(analyzed, tmp_path, capsys):
    with folder.lock(tmp_path, "train.py (a test)"):
        assert report.main([str(analyzed), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path} is in use by train.py (a test) (pid ")
    assert err.strip().endswith("wait for it to finish, or write the report elsewhere with --out")
