"""train.py, the command line: the run folder it writes, reruns, refusals, and one sentence for bad input."""
from __future__ import annotations

import json
import re
import shutil

import jax
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import checkpoint, folder

from helpers import ROOT, train_process as train


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cli") / "run-\u00fcn\u00ef"      # a folder name the console cannot show
    r = train("--config", str(ROOT / "configs/smoke.py"), "--workdir", str(workdir),
              "--config.variants=ReLU,Abs2-Neg,Abs-L2", env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0, r.stderr
    return workdir, r


def test_train_py_writes_every_file_of_the_run_folder(cli_run):
    workdir, r = cli_run
    assert "Abs2-Neg" in r.stdout and "test acc" in r.stdout and "results in" in r.stdout
    assert "run-\\xfcn\\xef" in r.stdout           # named in escapes by an ASCII console, not a UnicodeEncodeError
    for v in ("ReLU", "Abs2-Neg", "Abs-L2"):
        vdir = workdir / v
        m = folder.load_metrics(vdir)
        assert m["epoch"].tolist() == list(range(21))
        assert all(m[k].shape == (2, 21) for k in folder.METRICS)
        assert ((m["test_acc"] >= 0) & (m["test_acc"] <= 1)).all()
        s = folder.read_json(vdir / "summary.json")
        assert s["status"] == "complete" and s["final_test_acc"] == pytest.approx(m["test_acc"][:, -1].tolist())
        lo, mean, hi = s["test_acc"]["ci95"][0], s["test_acc"]["mean"], s["test_acc"]["ci95"][1]
        assert lo <= mean <= hi and (lo < mean < hi) == (min(s["final_test_acc"]) < max(s["final_test_acc"]))
        c = folder.read_json(vdir / "config.json")
        assert c["config"]["variants"] == v and c["protocol"]["epochs"] == 20 and c["versions"]["jax"]
        assert len(c["data"]["array_sha256"]) == 64
        assert checkpoint.steps(vdir) == [0, 10, 20]
        assert jax.tree.leaves(checkpoint.restore(vdir))[0].shape[0] == 2       # leading seed axis
    top = json.loads((workdir / "summary.json").read_text())
    assert [row["variant"] for row in top["variants"]] == ["ReLU", "Abs2-Neg", "Abs-L2"]
    assert sum(line.startswith("| ") for line in (workdir / "summary.md").read_text().splitlines()) == 4  # header + 3
    # well-separated Gaussians: ReLU must learn far beyond chance
    assert folder.read_json(workdir / "ReLU" / "summary.json")["test_acc"]["mean"] > 0.5


def test_rerun_skips_finished_variants(cli_run):
    workdir, _ = cli_run
    before = (workdir / "ReLU" / "metrics.npz").read_bytes()
    r = train("--config", str(ROOT / "configs/smoke.py"), "--workdir", str(workdir),
              "--config.variants=ReLU,Abs2-Neg,Abs-L2")
    assert r.returncode == 0 and r.stdout.count("finished earlier, skipping") == 3
    assert (workdir / "ReLU" / "metrics.npz").read_bytes() == before


def test_resume_with_a_different_protocol_is_refused(smoke_run, tmp_path):
    r = train("--config", str(ROOT / "configs/smoke.py"), "--workdir", str(smoke_run), "--config.lr=0.1")
    assert r.returncode == 2 and "different config" in r.stderr and "lr (folder: 0.05, now: 0.1)" in r.stderr


@pytest.mark.parametrize("args,code,message", [
    (["--config.variants=ReLU,Relu3"], 2, "valid variants are: ReLU, Abs, ReLU2"),
    (["--config.epochs=abc"], 2, "error: config.epochs='abc' is not an integer; give one such as --config.epochs=20"),
    (["--config.epochz=5"], 2, "did you mean 'epochs'"),
    (["--config.epochs=0"], 2, "config.epochs=0 must be a positive integer"),
    (["--config.data.name=mnist", "--config.data.source=idx", "--config.data.dir=/nonexistent/mnist"], 2,
     "/nonexistent/mnist: data folder not found"),
])
def test_bad_input_gets_one_sentence_not_a_traceback(tmp_path, args, code, message):
    r = train("--config", str(ROOT / "configs/smoke.py"), "--workdir", str(tmp_path / "w"), *args)
    assert r.returncode == code and message in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_data_file_names_the_file(mnist_dir, tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(mnist_dir, folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    r = train("--config", str(ROOT / "configs/smoke.py"), "--workdir", str(tmp_path / "w"),
              "--config.data.name=mnist", f"--config.data.dir={folder}")
    assert r.returncode == 2 and "t10k-labels-idx1-ubyte.gz: file not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_field_typo_without_a_config_file_is_one_sentence():
    r = train("--config.epoch=20")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == ("error: unknown config field 'epoch' (did you mean 'epochs'?) on the command line; "
                                "`python train.py --help` lists every field with its default")


def test_help_lists_every_config_field_with_its_default_and_every_variant():
    r = train("--help")
    assert r.returncode == 0, r.stderr
    for name, value, _ in config.fields():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(repr(value))}", r.stdout, re.M), name
    for name, value in data.GAUSSIAN_DEFAULTS.items():     # fields a gaussians config adds to config.data
        assert re.search(rf"^  data\.{name} +{re.escape(repr(value))} +\S", r.stdout, re.M), name
    assert ", ".join(models.NAMES) in r.stdout and "paper_table1.py" in r.stdout
