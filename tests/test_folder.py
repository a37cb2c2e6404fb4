"""distnet.run.folder: what a run folder holds reads back as written."""
from __future__ import annotations

import numpy as np

from distnet import data
from distnet.run import files, folder, summary

from helpers import strict_json


def test_a_diverged_summary_round_trips_and_tabulates(tmp_path):
    metrics = {"epoch": np.array([0, 10]), "test_acc": np.array([[0.1, np.nan], [0.1, 0.9]]),
               "train_acc": np.array([[0.1, np.nan], [0.1, 0.95]]), "train_loss": np.array([[2.0, np.nan], [2.0, 0.1]])}
    diverged = {**summary.variant_summary("ReLU", metrics, 1.0), "status": "diverged"}
    files.write_json(tmp_path / "summary.json", diverged)
    back = strict_json((tmp_path / "summary.json").read_text())
    assert back["final_test_acc"] == [None, 0.9] and back["test_acc"]["mean"] is None
    table = summary.summary_table([back])
    assert "| ReLU | diverged |" in table and "n/a +/- n/a" in table


def test_error_text_names_a_missing_field():
    assert "lacks the field 'epochs'" in folder.error_text(KeyError("epochs"))


def test_variants_are_listed_in_the_papers_order(tmp_path):
    for v in ("Abs-L2", "ReLU2", "Abs", "ReLU-Bias", "ReLU"):
        files.write_json(folder.variant_dir(tmp_path, v) / "config.json", {})
    assert folder.list_variants(tmp_path) == ["ReLU", "Abs", "ReLU2", "ReLU-Bias", "Abs-L2"]


def test_a_gaussian_run_records_the_truth_it_was_generated_from(smoke_run):
    vdir = folder.variant_dir(smoke_run, "Abs2-Neg")
    truth = folder.load_truth(vdir)
    cfg = folder.read_config(vdir)["config"]["data"]
    again = data.gaussians(cfg["n_train"], cfg["n_test"], dim=cfg["dim"], seed=cfg["seed"]).truth   # raw: no mapping
    assert cfg["preprocess"] == "raw" and set(truth) == {"means", "covariances", "eigenvectors", "eigenvalues"}
    for k in truth:
        np.testing.assert_array_equal(truth[k], again[k])


def test_a_folder_without_truth_or_prototypes_reads_none(tmp_path):
    assert folder.load_truth(tmp_path) is None and folder.load_prototypes(tmp_path) is None
    assert folder.load_reference(tmp_path) is None
    folder.write_truth(tmp_path, {"means": np.eye(2)})
    folder.write_truth(tmp_path, {"means": np.zeros(2)})            # once: the first record stays
    np.testing.assert_array_equal(folder.load_truth(tmp_path)["means"], np.eye(2))
