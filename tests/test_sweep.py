"""Sweeps: lr, init_scale and weight_decay as lanes beside the seeds in one compiled program. Every lane equals
the run of its point alone, bit for bit on CPU; the whole sweep compiles once; a lane that goes NaN/Inf is masked
while the others finish as if it were not there; and a single-value config runs as before."""
from __future__ import annotations

import shutil

import chex
import jax
import numpy as np
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.analysis import report
from distnet.run import checkpoint, folder, plan, protocol, study, trainer

from helpers import load_config

POINTS = {"lrs": (0.02, 0.05), "init_scales": (1.0, 0.5), "weight_decays": (0.0, 0.01)}


def sweep_cfg(**fields):
    cfg = load_config("smoke")
    cfg.variants, cfg.epochs, cfg.checkpoint_every = "Abs2-Neg", 10, 10
    for k, v in fields.items():
        cfg[k] = v
    return cfg


def lane_leaves(vdir, lanes, step=None):
    """Every checkpoint leaf and metric of a variant folder, cut to `lanes`, as numpy arrays."""
    m = folder.load_metrics(vdir)
    params = checkpoint.restore(vdir, step)
    return [np.asarray(a)[lanes] for a in jax.tree.leaves(params)] + [m[k][lanes] for k in folder.METRICS]


def assert_bitwise(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x.view(np.uint32), y.view(np.uint32))   # NaNs and signed zeros too


class Alone:
    """Runs of single points of a config's sweep, each as the study runs it (same chunks), all through ONE compiled
    program: the point's values are arguments, so swapping them needs no recompile."""

    def __init__(self, cfg, variant):
        ds = data.load(cfg.data)
        self.cfg, self.d = cfg, trainer.to_device(ds)
        model = models.from_config(cfg, ds.classes, variant)
        self.train = trainer.make_train(model, input_dim=ds.dim, eval_every=cfg.eval_every)

    def __call__(self, point):
        """[every param leaf at the end] + [train_loss, train_acc, test_acc (seeds, E)] of `point` alone."""
        hp = trainer.hyper([point])
        chunk = plan.chunk_length(self.cfg.epochs, self.cfg.checkpoint_every, self.cfg.eval_every,
                                  self.cfg.chunk_epochs)
        params = self.train.init(trainer.seed_keys(self.cfg.seed, self.cfg.num_seeds), hp)
        ms = [jax.tree.map(lambda a: np.asarray(a)[:, None], self.train.evaluate(params, self.d))]
        for _ in range(self.cfg.epochs // chunk):
            params, _, m = self.train.run(params, hp, self.d, chunk)
            ms.append(jax.tree.map(np.asarray, m))
        return [np.asarray(a) for a in jax.tree.leaves(params)] + [
            np.concatenate([getattr(m, k) for m in ms], axis=1) for k in folder.METRICS]


def test_every_lane_equals_the_run_of_its_point_alone_bit_for_bit(tmp_path):
    cfg = sweep_cfg(**POINTS)
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    vdir = tmp_path / "Abs2-Neg"
    points, s = config.sweep_points(cfg), cfg.num_seeds
    assert len(points) == 8 and folder.load_metrics(vdir)["test_acc"].shape == (8 * s, 11)
    record = folder.read_config(vdir)["lanes"]
    assert record["points"] == points and record["lr"][:2 * s] == [0.02] * 2 * s
    alone = Alone(cfg, "Abs2-Neg")
    for i, p in enumerate(points):
        assert_bitwise(lane_leaves(vdir, slice(i * s, (i + 1) * s)), alone(p))
    # the values do act: each axis moves the numbers
    loss = folder.load_metrics(vdir)["train_loss"][:, -1].reshape(2, 2, 2, s)
    for axis in range(3):
        assert not np.array_equal(np.take(loss, 0, axis), np.take(loss, 1, axis))


def test_a_single_point_run_alone_is_the_study_of_that_config(tmp_path):
    """Alone (the reference of the test above) is what a single-value config's study writes."""
    cfg = sweep_cfg(lrs=(0.05,), init_scales=(0.5,), weight_decays=(0.01,))
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    assert_bitwise(lane_leaves(tmp_path / "Abs2-Neg", slice(None)), Alone(cfg, "Abs2-Neg")(config.sweep_points(cfg)[0]))


def test_the_whole_sweep_compiles_once(tmp_path, monkeypatch):
    lane = protocol.lane

    def counted(*args, **kwargs):
        t = lane(*args, **kwargs)
        return t._replace(run=chex.assert_max_traces(t.run, n=1))

    monkeypatch.setattr(protocol, "lane", counted)
    cfg = sweep_cfg(**POINTS)
    cfg.epochs, cfg.chunk_epochs = 20, 5      # 4 chunks of 8 points x 2 seeds: one trace
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    assert folder.load_metrics(tmp_path / "Abs2-Neg")["epoch"][-1] == 20


def test_a_lane_that_diverges_is_masked_and_the_others_equal_their_run_alone(tmp_path):
    cfg = sweep_cfg(lrs=(0.05, 1000.0))
    cfg.variants = "ReLU"
    logs = []
    study.run_all(cfg, tmp_path / "sweep", log=logs.append)
    vdir = tmp_path / "sweep" / "ReLU"
    s = folder.read_summary(vdir)
    assert s["status"] == "complete" and s["epochs"] == 10
    bad = s["diverged_lanes"]
    assert [d["lane"] for d in bad] == [2, 3] and {d["lr"] for d in bad} == {1000.0}
    m = folder.load_metrics(vdir)
    for d in bad:    # NaN from the epoch it went bad on, finite before; its params frozen there, finite
        e = d["epoch"]
        assert 1 <= e <= 10 and m["diverged_epoch"][d["lane"]] == e
        assert np.isfinite(m["train_loss"][d["lane"], :e]).all() and np.isnan(m["test_acc"][d["lane"], e:]).all()
        assert any(f"seed {d['seed']} at lr=1000" in line and f"(epoch {e})" in line for line in logs)
    assert all(np.isfinite(a).all() for a in jax.tree.leaves(checkpoint.restore(vdir)))
    assert s["points"][1]["diverged_seeds"] == [0, 1] and s["points"][0]["test_acc"]["n"] == 2
    alone = Alone(cfg, "ReLU")({"lr": 0.05, "init_scale": 1.0, "weight_decay": 0.0})
    assert_bitwise(lane_leaves(vdir, slice(0, 2)), alone)


def test_a_resumed_sweep_keeps_its_diverged_lanes_and_equals_one_run(tmp_path):
    cfg = sweep_cfg(lrs=(0.05, 1000.0))
    cfg.variants, cfg.epochs, cfg.checkpoint_every, cfg.chunk_epochs = "ReLU", 20, 10, 5
    study.run_all(cfg, tmp_path / "a", log=lambda *a: None)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    vdir = tmp_path / "b" / "ReLU"
    # a kill after epoch 10's checkpoint: (the lr=1000 lanes went bad before it, so resume must know them)
    shutil.rmtree(vdir / "checkpoints" / "20")
    (vdir / "checkpoints" / "20.json").unlink()
    (vdir / "summary.json").unlink()
    study.run_all(cfg, tmp_path / "b", log=lambda *a: None)
    a, b = folder.load_metrics(tmp_path / "a" / "ReLU"), folder.load_metrics(vdir)
    assert sorted(a) == sorted(b) and a["diverged_epoch"][2:].all()
    assert_bitwise([a[k] for k in sorted(a)], [b[k] for k in sorted(b)])
    assert folder.read_summary(vdir)["diverged_lanes"] == folder.read_summary(tmp_path / "a" / "ReLU")["diverged_lanes"]


def test_single_value_config_keeps_its_protocol_folder_and_summary_shape(smoke_run):
    vdir = smoke_run / "ReLU"
    record = folder.read_config(vdir)
    assert set(record["protocol"]) == set(config.PROTOCOL_FIELDS)          # folders from before sweeps resume
    assert record["lanes"]["points"] == [{"lr": 0.05, "init_scale": 1.0, "weight_decay": 0.0}]
    assert set(np.load(vdir / "metrics.npz").files) == {"epoch", *folder.METRICS}
    s = folder.read_summary(vdir)
    assert "points" not in s and "diverged_lanes" not in s and s["test_acc"]["n"] == 2


def test_report_has_a_variant_by_value_table_and_a_figure_per_swept_axis(tmp_path):
    cfg = sweep_cfg(lrs=(0.02, 0.05))
    cfg.variants = "ReLU,Abs2-Neg"
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    assert report.main([str(tmp_path), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report" / "report.md").read_text()
    assert "## Sweep: final test accuracy (%) by lr" in md
    row = next(line for line in md.splitlines() if line.startswith("| ReLU |") and "+/-" in line)
    m = folder.load_metrics(tmp_path / "ReLU")["test_acc"][:, -1]
    assert f"{100 * m[:2].mean():.2f} +/- {100 * m[:2].std(ddof=1):.2f}" in row
    assert f"{100 * m[2:].mean():.2f} +/- {100 * m[2:].std(ddof=1):.2f}" in row
    assert (tmp_path / "rep" / "report" / "figures" / "sweep_lr.png").stat().st_size > 0
    assert "| ReLU lr=0.02 |" in md and "| ReLU lr=0.05 |" in md     # each point is a row of the other tables
    # the tidy table names each lane by its seed and swept value
    import csv
    with open(tmp_path / "ReLU" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["variant", "seed", "lr", "epoch", "train_loss", "train_acc", "test_acc"]
    final = {(int(r["seed"]), float(r["lr"])): np.float32(r["test_acc"]) for r in rows if int(r["epoch"]) == cfg.epochs}
    seeds = cfg.num_seeds                                   # 9 significant digits print a float32 exactly
    assert final == {(i % seeds, (0.02, 0.05)[i // seeds]): m[i] for i in range(len(m))}


@pytest.mark.parametrize("field,value,says", [
    ("lrs", (0.1, -1.0), "> 0"), ("init_scales", (), "non-empty"), ("weight_decays", (0.0, float("nan")), ">= 0"),
    ("lrs", (0.1, 0.1), "twice"), ("weight_decays", (-0.1,), ">= 0")])
def test_bad_sweep_values_are_named(smoke_cfg, field, value, says):
    smoke_cfg[field] = value
    with pytest.raises(config.ConfigError, match=f"config.{field}") as e:
        config.check(smoke_cfg)
    assert says in str(e.value)


def test_a_folder_with_other_sweep_values_is_refused_and_one_from_before_sweeps_is_not(smoke_cfg):
    now = smoke_cfg.to_dict()
    before_sweeps = {k: v for k, v in now.items() if k not in config.SWEEP_DEFAULTS}   # an older config.json
    assert config.diff(config.identity(before_sweeps), config.identity(now)) == []
    smoke_cfg.lrs = (0.01, 0.05)
    assert config.diff(config.identity(now), config.identity(smoke_cfg.to_dict())) == [
        "lrs (folder: [], now: [0.01, 0.05])"]


def test_width_variants_equal_runs_at_that_width_bit_for_bit(tmp_path):
    """config.widths trains each variant at each width as its own variant folder NAME@W: the very run of that
    variant with config.hidden=W (widths cannot share a program: their parameters differ in shape)."""
    cfg = sweep_cfg(widths=(4, 8))
    study.run_all(cfg, tmp_path / "widths", log=lambda *a: None)
    assert folder.list_variants(tmp_path / "widths") == ["Abs2-Neg@4", "Abs2-Neg@8"]
    for w in (4, 8):
        alone = sweep_cfg(hidden=w)
        study.run_all(alone, tmp_path / f"h{w}", log=lambda *a: None)
        got = lane_leaves(tmp_path / "widths" / f"Abs2-Neg@{w}", slice(None))
        assert checkpoint.restore(tmp_path / "widths" / f"Abs2-Neg@{w}")["hidden"]["kernel"].shape[-1] == w
        assert_bitwise(got, lane_leaves(tmp_path / f"h{w}" / "Abs2-Neg", slice(None)))


@pytest.mark.parametrize("widths, variants, says", [((4, 0), "ReLU", "distinct positive integers"),
                                                     ((4, 4), "ReLU", "distinct positive integers"),
                                                     ((4,), "ReLU@8", "both set a width")])
def test_bad_widths_are_named(smoke_cfg, widths, variants, says):
    smoke_cfg.widths, smoke_cfg.variants = widths, variants
    with pytest.raises(config.ConfigError, match=says):
        config.variant_list(smoke_cfg)
