"""distnet.run.preflight: a run folder that cannot hold the run, or holds another (other config fields that change
the numbers, another first layer, other data), is refused before training."""
from __future__ import annotations

import gzip
import hashlib
import shutil

import jax
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import files, folder, preflight, study

from helpers import idx_bytes, idx_cfg, make_idx_folder

OFF = {"split": "off", "parts": 0}


def _old_run(cfg, workdir, variant="ReLU"):
    vdir = folder.variant_dir(workdir, variant)
    files.write_json(vdir / "config.json", {"variant": variant, "protocol": {**config.protocol(cfg), "lr": 0.5},
                                            "config": {**cfg.to_dict(), "lr": 0.5}, "first_layer": OFF, "data": {}})
    files.write_json(vdir / "summary.json", {"status": "complete"})
    return vdir


def test_overwrite_killed_midway_leaves_nothing_under_the_variant_name(smoke_cfg, tmp_path, monkeypatch):
    vdir = _old_run(smoke_cfg, tmp_path)
    real = shutil.rmtree

    def killed(path, *a, **k):      # deletes config.json, then dies before summary.json
        (path / "config.json").unlink()
        raise KeyboardInterrupt
    monkeypatch.setattr(preflight.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        preflight.check_folder(smoke_cfg, tmp_path, ["ReLU"], {}, OFF, overwrite=True, log=lambda *a: None)
    assert not vdir.exists()        # the old summary.json can no longer pass for the new run's
    assert len(list(tmp_path.glob("ReLU.deleting-*"))) == 1
    monkeypatch.setattr(preflight.shutil, "rmtree", real)
    preflight.remove_leftovers(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_check_finishes_an_interrupted_delete(smoke_cfg, tmp_path):
    left = tmp_path / "ReLU.deleting-123"
    files.write_json(left / "summary.json", {"status": "complete"})
    preflight.check(smoke_cfg, tmp_path, ["ReLU"], data.load(smoke_cfg.data), OFF)
    assert not left.exists()


def test_unwritable_workdir_refused_before_training(smoke_cfg, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(preflight.WorkdirError, match="cannot write to the work folder .*choose a writable"):
        study.run_all(smoke_cfg, tmp_path / "file" / "run", log=lambda *a: None)


def test_full_disk_refused_before_training(smoke_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12, 2**20))
    with pytest.raises(preflight.WorkdirError, match=r"has 1 MiB free but this run needs about \d+ MiB"):
        study.run_all(smoke_cfg, tmp_path, log=lambda *a: None)
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_estimate_counts_checkpoints(smoke_cfg):
    one = models.params_bytes(models.get("ReLU", hidden=smoke_cfg.hidden), 16)
    assert one > 0
    assert preflight.estimate_bytes(smoke_cfg, ["ReLU"], 10, 16) >= one * 2 * 3


# --- what a resume must keep: the fields that change the numbers, the first layer as it ran, the data -------

def _record(cfg, **changes):
    d = cfg.to_dict()
    return {"variant": "ReLU", "protocol": config.protocol(cfg), "config": {**d, **changes}, "first_layer": OFF,
            "data": {"array_sha256": "a" * 64}, "versions": {"backend": "cpu", "devices": ["cpu"]}}


def test_seed_chunk_and_the_resolved_split_are_compared(smoke_cfg):
    same = preflight.differences(_record(smoke_cfg), smoke_cfg, {"array_sha256": "a" * 64}, OFF)
    assert same == []
    changed = preflight.differences(_record(smoke_cfg, seed_chunk=1), smoke_cfg, {"array_sha256": "a" * 64},
                                    {"split": "fp16", "parts": 2})
    assert changed[0] == "seed_chunk (folder: 1, now: 0)"
    assert changed[1].startswith("first layer (folder: {'split': 'off', 'parts': 0}, now: {'split': 'fp16', "
                                 "'parts': 2}; config.split='auto' resolves per backend)")


def test_where_the_data_lies_is_not_compared_but_what_it_holds_is(smoke_cfg, tmp_path):
    """data.dir spelled with .., through a symlink, or from $DISTNET_DATA_DIR: the same bytes are the same run."""
    rec = _record(smoke_cfg)
    rec["config"]["data"] = {**rec["config"]["data"], "dir": str(tmp_path / "a" / ".." / "a"), "source": "idx"}
    assert preflight.differences(rec, smoke_cfg, {"array_sha256": "a" * 64}, OFF) == []
    changed = preflight.differences(rec, smoke_cfg, {"array_sha256": "b" * 64}, OFF)
    assert changed == [f"data: its arrays hash to {'b' * 16}... but the run trained on arrays hashing to {'a' * 16}..."]


def test_other_data_in_the_same_folder_is_refused_naming_the_file_and_both_digests(smoke_cfg, tmp_path):
    """The mnist folder's files replaced by other data with a matching SHA256SUMS, or one pixel changed."""
    src = make_idx_folder(tmp_path / "mnist")
    cfg = idx_cfg(smoke_cfg, src)
    before = data.load(cfg.data)
    record = {**_record(cfg), "data": before.info}
    x = data.parse_idx(gzip.decompress((src / "train-images-idx3-ubyte.gz").read_bytes()), "x", 3).copy()
    x[0, 0, 0] ^= 1                                        # one pixel
    (src / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(x), mtime=0))
    sums = (src / "SHA256SUMS").read_text().splitlines()
    sums[0] = f"{hashlib.sha256(idx_bytes(x)).hexdigest()}  train-images-idx3-ubyte"     # a matching SHA256SUMS
    (src / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    after = data.load(cfg.data)
    old = before.info["files"]["train-images-idx3-ubyte"]["sha256"]
    new = after.info["files"]["train-images-idx3-ubyte"]["sha256"]
    assert preflight.differences(record, cfg, after.info, OFF) == [
        f"data: train-images-idx3-ubyte.gz in {src.resolve()} has SHA-256 {new[:16]}... but the run trained on "
        f"{old[:16]}..."]


def test_a_damaged_config_json_is_refused_and_overwrite_starts_the_variant_over(smoke_cfg, tmp_path):
    vdir = _old_run(smoke_cfg, tmp_path)
    (vdir / "config.json").write_text("[]")
    with pytest.raises(folder.RunFileError, match=r"config.json is damaged \(it holds a JSON list.*--overwrite"):
        preflight.check_folder(smoke_cfg, tmp_path, ["ReLU"], {}, OFF, log=lambda *a: None)
    assert vdir.exists()
    logs = []
    preflight.check_folder(smoke_cfg, tmp_path, ["ReLU"], {}, OFF, overwrite=True, log=logs.append)
    assert not vdir.exists() and "ReLU: --overwrite: deleting" in logs[0]


def test_a_folder_started_on_other_devices_is_said_aloud(smoke_cfg, tmp_path):
    vdir = folder.variant_dir(tmp_path, "ReLU")
    files.write_json(vdir / "config.json", {**_record(smoke_cfg), "versions": {"backend": "tpu", "devices": ["v5"] * 3}})
    logs = []
    preflight.check_folder(smoke_cfg, tmp_path, ["ReLU"], {"array_sha256": "a" * 64}, OFF, log=logs.append)
    assert logs == [f"ReLU: started on 3 tpu device(s), now on {jax.device_count()} {jax.default_backend()} "
                    f"device(s); if it resumes, its numbers will not be bit-identical to an uninterrupted run on either"]


def test_every_config_field_is_compared_on_resume_or_has_a_stated_reason():
    """A field added to base() must be compared by a resume (config.identity) or say in config.UNCOMPARED_FIELDS
    why it need not be."""
    def flat(d, prefix=""):
        return {n for k, v in d.items() for n in (flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k])}
    every = {name for name, _, _ in config.fields()}
    compared = flat(config.identity(config.base().to_dict()))
    uncompared = set(config.UNCOMPARED_FIELDS) | {f"data.{k}" for k in config.LOCATION_FIELDS}
    assert compared | uncompared == every and not compared & uncompared
    assert {"seed_chunk", "matmul_precision", "offsetl2_form", "data.preprocess"} <= compared


def test_a_run_folder_is_one_study_new_variants_with_other_settings_are_refused(smoke_cfg, smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    cfg = smoke_cfg.copy_and_resolve_references()
    cfg.variants, cfg.epochs, cfg.checkpoint_every = "Abs", 10, 10
    with pytest.raises(config.ConfigError) as e:
        study.run_all(cfg, run, log=lambda *a: None, overwrite=True)      # --overwrite does not lift it
    assert str(e.value) == (f"{run} is one study and already holds ReLU, run with other settings (epochs (folder: "
                            f"20, now: 10)); give these settings their own --workdir, or keep the folder's settings "
                            f"to add variants to it")
    assert not (run / "Abs").exists()


def test_a_variant_added_with_the_folders_settings_joins_its_summary(smoke_cfg, smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    cfg = smoke_cfg.copy_and_resolve_references()
    cfg.variants = "Abs"
    table = study.run_all(cfg, run, log=lambda *a: None)
    rows = folder.read_json(run / "summary.json")["variants"]
    assert [r["variant"] for r in rows] == ["ReLU", "Abs", "Abs2-Neg"]        # the paper's order, all three kept
    assert "| ReLU |" in table and "| Abs |" in table and "| Abs2-Neg |" in table
def test_estimate_counts_every_sweep_points_lanes(smoke_cfg):
    one = preflight.estimate_bytes(smoke_cfg, ["ReLU"], 10, 16)
    smoke_cfg.lrs, smoke_cfg.weight_decays = (0.01, 0.02, 0.05), (0.0, 1e-3)
    assert preflight.estimate_bytes(smoke_cfg, ["ReLU"], 10, 16) == 6 * one
