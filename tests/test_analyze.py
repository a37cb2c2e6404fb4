"""distnet.analysis.analyze: every statistic of a finished run folder, from its checkpoints."""
from __future__ import annotations

import shutil

import numpy as np

from distnet import data
from distnet.run import checkpoint, files, folder
from distnet.analysis import analyze


def test_analyzing_leaves_the_shared_smoke_run_alone(analyzed, smoke_run):
    assert folder.load_stats(folder.variant_dir(analyzed, "ReLU")).keys() > {"summary"}
    assert not (folder.variant_dir(smoke_run, "ReLU") / folder.STATS_FILE).exists()


def test_fresh_goes_by_the_recorded_step_not_file_times(analyzed, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    vdir = folder.variant_dir(run, "ReLU")
    latest = folder.checkpoint_steps(vdir)[-1]
    assert analyze.is_fresh(vdir, latest)
    sidecar = vdir / "checkpoints" / f"{folder.read_json(vdir / folder.STATS_FILE)['step']}.json"
    sidecar.write_text(sidecar.read_text())         # newer than stats.json, same step: still fresh
    assert analyze.is_fresh(vdir, latest)
    s = folder.read_json(vdir / folder.STATS_FILE)
    files.write_json(vdir / folder.STATS_FILE, {**s, "step": s["step"] - 1})   # newer file, older step: stale
    assert not analyze.is_fresh(vdir, latest)


def test_analyze_writes_every_statistic(analyzed):
    s = folder.load_stats(folder.variant_dir(analyzed, "ReLU"))
    assert set(s) >= {"summary", "class_distributions", "histogram", "output_geometry", "prototypes",
                      "perturbation", "noise"}
    assert np.asarray(s["class_distributions"]["mean"]).shape == (2, 10, 16)
    frac = np.asarray(s["activity_fraction"]["train"]["hidden_post"])
    assert frac.shape == (2, 16) and np.sum(frac == 0, axis=1).tolist() == s["summary"]["activity"]["train"][
        "hidden_post"]["dead"]
    assert np.asarray(s["prototypes"]["hyperplane_distance"]).shape == (2, 10, 10)
    probe = s["perturbation"]["hidden_post"]
    summary = folder.read_json(folder.variant_dir(analyzed, "ReLU") / "summary.json")
    np.testing.assert_allclose(probe["below"][0][0], summary["final_test_acc"][0], atol=1e-6)   # clamp at 0
    np.testing.assert_allclose(s["noise"]["accuracy"][0][0], summary["final_test_acc"][0], atol=1e-6)
    assert s["summary"] == summary["stats"]          # analyze recomputes exactly what training recorded


def test_a_damaged_checkpoint_is_one_line_naming_it_not_statistics_of_garbage(analyzed, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    f = max((run / "ReLU" / "checkpoints" / "20").rglob("ocdbt.process_0/d/*"), key=lambda p: p.stat().st_size)
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x40
    f.write_bytes(bytes(b))
    before = (run / "ReLU" / folder.STATS_FILE).read_bytes()
    assert analyze.main([str(run), "--force", "--variants", "ReLU"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: checkpoint {run / 'ReLU' / 'checkpoints' / '20'} is damaged (")
    assert err.strip().endswith(checkpoint.RECOVER) and err.count("\n") == 1
    assert (run / "ReLU" / folder.STATS_FILE).read_bytes() == before


def test_a_damaged_stats_file_is_computed_again(analyzed, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(analyzed, run)
    (run / "ReLU" / folder.STATS_FILE).write_text("{cut sho")
    logs = []
    assert analyze.analyze(run, ["ReLU"], log=logs.append) == ["ReLU"]
    assert logs[0].startswith(f"ReLU: {run / 'ReLU' / folder.STATS_FILE} is damaged (JSONDecodeError")
    assert logs[0].endswith("; computing it again")
    timings = ("wall_time_s", "known_answers_s")                   # seconds differ run to run; the statistics not
    again, before = folder.load_stats(run / "ReLU"), folder.load_stats(analyzed / "ReLU")
    assert {k: v for k, v in again.items() if k not in timings} == {k: v for k, v in before.items() if k not in timings}


def test_analyze_refuses_a_folder_another_process_writes(analyzed, capsys):
    with folder.lock(analyzed, "train.py (a test)"):
        assert analyze.main([str(analyzed), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {analyzed} is in use by train.py (a test) (pid ") and err.count("\n") == 1


def test_analyze_scores_the_known_answers_of_a_gaussian_run(analyzed):
    # the smoke run trains on Gaussians, so its folder records a truth: geometry, prototypes and outliers follow
    s = folder.load_stats(folder.variant_dir(analyzed, "Abs2-Neg"))
    assert {"geometry", "geometry_untrained", "input_prototypes", "ood", "known_answers_s"} <= set(s)
    assert len(s["geometry"]["per_seed"]["alignment"]) == 2 and "prototype_error" in s["geometry"]["summary"]
    assert set(s["ood"]["sets"]) == {"uniform", "gaussian"}          # no Fashion-MNIST for Gaussian data
    p = folder.load_prototypes(folder.variant_dir(analyzed, "Abs2-Neg"))
    assert p["x"].shape == p["nearest"].shape == (2, 10, 16)
    vdir = folder.variant_dir(analyzed, "Abs2-Neg")
    ds = data.reload(folder.read_config(vdir), vdir)
    near = np.asarray(s["input_prototypes"]["nearest_train_index"])
    np.testing.assert_array_equal(p["nearest"], ds.x_train[near])
    # the analytic network of the recorded truth, scored by the same code, is perfect (float32 bounds in
    # tests/test_geometry.py; here only the exact facts: every unit through its own class mean, prototypes own)
    ref = folder.load_reference(analyzed)
    a = ref["analytic"]["summary"]
    assert a["pass_fraction"]["mean"] == 1 and a["prototype_own_class"]["mean"] == 1
    assert ref["dim"] == 16 and ref["classes"] == 10 and 0 < ref["chance_alignment"]["mean"] < 1
