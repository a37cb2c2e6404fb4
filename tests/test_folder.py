"""distnet.run.folder: what a run folder holds reads back as written."""
from __future__ import annotations

import numpy as np

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


def test_a_finished_variant_has_its_metrics_as_a_tidy_csv_equal_to_the_npz(smoke_run):
    import csv

    for v in folder.list_variants(smoke_run):
        m = folder.load_metrics(folder.variant_dir(smoke_run, v))
        with open(folder.variant_dir(smoke_run, v) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        seeds, evals = m["test_acc"].shape
        assert len(rows) == seeds * evals and list(rows[0]) == list(folder.TIDY_COLUMNS)
        for r in rows:
            s, e = int(r["seed"]), int(np.searchsorted(m["epoch"], int(r["epoch"])))
            assert r["variant"] == v and m["epoch"][e] == int(r["epoch"])
            for k in folder.METRICS:    # 9 significant digits print a float32 exactly
                assert np.float32(r[k]) == m[k][s, e], (v, k, s, e)


def test_to_dataframe_holds_every_variant_seed_and_epoch(smoke_run):
    df = folder.to_dataframe(smoke_run)
    variants = folder.list_variants(smoke_run)
    assert list(df.columns) == list(folder.TIDY_COLUMNS) and list(df["variant"].unique()) == variants
    for v in variants:
        m = folder.load_metrics(folder.variant_dir(smoke_run, v))
        part = df[df["variant"] == v]
        assert len(part) == m["test_acc"].size
        final = part[part["epoch"] == m["epoch"][-1]].sort_values("seed")["test_acc"].to_numpy()
        np.testing.assert_array_equal(final, m["test_acc"][:, -1])


def test_to_dataframe_without_pandas_says_what_to_install(smoke_run, monkeypatch):
    import sys

    import pytest

    monkeypatch.setitem(sys.modules, "pandas", None)      # import pandas now raises ImportError
    with pytest.raises(ImportError, match=r"needs pandas \(pip install pandas\); without it read"):
        folder.to_dataframe(smoke_run)
