"""Bad data files and bad config values: one sentence naming the file or field, what is wrong and the fix; exit
code 2 from the CLI with no traceback (unless --debug); refused before anything compiles or is written."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from helpers import idx_bytes, train_process, write_idx_folder

from distnet import config, data, experiment

STEMS = data.IDX_FILES   # key -> file stem


def _write(folder, key, raw: bytes) -> None:
    (folder / f"{STEMS[key]}.gz").write_bytes(gzip.compress(raw, mtime=0))


def make_idx_folder(folder):
    """A small valid MNIST-format folder (30 train, 10 test 4x4 images) with a SHA256SUMS file."""
    write_idx_folder(folder, n_train=30, n_test=10)
    return folder


def _truncate(f, key):
    p = f / f"{STEMS[key]}.gz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _flip(f, key):
    p = f / f"{STEMS[key]}.gz"
    b = bytearray(p.read_bytes())
    for i in range(12, len(b) - 8, 7):      # scramble the deflate stream, keep the gzip header
        b[i] ^= 0x5A
    p.write_bytes(bytes(b))


# case -> (corrupt the folder, text the message must contain, file named in the message or None for folder)
DATA_CASES = {
    "missing file": (lambda f: (f / f"{STEMS['y_test']}.gz").unlink(), "file not found", "y_test"),
    "truncated gzip": (lambda f: _truncate(f, "x_train"), "truncated or corrupt", "x_train"),
    "corrupt gzip": (lambda f: _flip(f, "x_test"), "truncated or corrupt", "x_test"),
    "wrong magic": (lambda f: _write(f, "y_train", idx_bytes(np.zeros((30, 1)), magic_ndim=2)),
                    "wrong IDX magic number", "y_train"),
    "shape cut short": (lambda f: _write(f, "x_test", idx_bytes(np.zeros((10, 4, 4)))[:-5]),
                        "header promises shape", "x_test"),
    "images/labels count": (lambda f: _write(f, "y_train", idx_bytes(np.zeros(29))), "differ in count", None),
    "image shapes differ": (lambda f: _write(f, "x_test", idx_bytes(np.zeros((10, 5, 5)))), "differ in shape", None),
    "label out of range": (lambda f: _write(f, "y_test", idx_bytes(np.full(10, 10))), "out of range 0..9", "y_test"),
    "checksum mismatch": (lambda f: (f / "SHA256SUMS").write_text(
        (f / "SHA256SUMS").read_text().replace((f / "SHA256SUMS").read_text()[:8], "deadbeef", 1)),
        "SHA256SUMS says", "x_train"),
}
FIXES = ("download it again", "replace", "check you have the right file", "point data.dir", "belong together")


def bad_folder(tmp_path, case):
    folder = make_idx_folder(tmp_path / case.replace(" ", "_") / "mnist")
    if (f := folder / "SHA256SUMS").exists() and case not in ("checksum mismatch",):
        f.unlink()      # checked by its own case; the others must fail on their own defect
    DATA_CASES[case][0](folder)
    return folder


def idx_cfg(smoke_cfg, folder):
    smoke_cfg.data.name, smoke_cfg.data.source, smoke_cfg.data.dir = "mnist", "idx", str(folder)
    smoke_cfg.data.n_train, smoke_cfg.data.n_test = 0, 0
    return smoke_cfg


def test_valid_idx_folder_loads(tmp_path, smoke_cfg):
    ds = data.load(idx_cfg(smoke_cfg, make_idx_folder(tmp_path / "mnist")).data)
    assert ds.x_train.shape == (30, 16) and all(f["checked"] for f in ds.info["files"].values())


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_message(case, tmp_path, smoke_cfg):
    folder = bad_folder(tmp_path, case)
    _, text, key = DATA_CASES[case]
    with pytest.raises(data.DataError) as e:
        data.load(idx_cfg(smoke_cfg, folder).data)
    msg = str(e.value)
    assert text in msg and "\n" not in msg and any(fix in msg for fix in FIXES), msg
    assert (STEMS[key] if key else str(folder)) in msg


def test_n_train_larger_than_dataset(tmp_path, smoke_cfg):
    cfg = idx_cfg(smoke_cfg, make_idx_folder(tmp_path / "mnist"))
    cfg.data.n_train = 31
    with pytest.raises(data.DataError, match=r"n_train=31 is larger than the 30 train examples"):
        data.load(cfg.data)


CONFIG_CASES = {
    "variants": ("Nope", "unknown variant 'Nope'"), "data.name": ("cifar", "choose one of mnist"),
    "epochs": (0, "positive integer"), "num_seeds": (-1, "positive integer"), "hidden": (0, "positive integer"),
    "lr": (0.0, "finite number > 0"), "lr=-1": (-1.0, "finite number > 0"), "lr=nan": (float("nan"), "finite"),
    "lr=inf": (float("inf"), "finite"), "eval_every": (3, "must divide config.epochs=20"),
    "checkpoint_every": (7, "must divide config.epochs=20"), "chunk_epochs": (0, "positive integer"),
    "seed": (-1, "integer in 0..4294967295"), "data.n_train": (-5, "integer >= 0"),
    "data.dim": (0, "positive integer"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_message(case, smoke_cfg, tmp_path):
    value, text = CONFIG_CASES[case]
    field = case.split("=")[0]
    node, _, leaf = field.rpartition(".")
    (smoke_cfg[node] if node else smoke_cfg)[leaf] = value
    with pytest.raises(config.ConfigError) as e:
        experiment.run_all(smoke_cfg, tmp_path / "w", log=lambda *a: None)
    assert text in str(e.value) and f"{field}" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "w").exists()       # refused before anything was written or compiled


def test_cli_errors_exit_2_with_one_line(cli, tmp_path):
    """Bad data, bad config and an unwritable folder through train.py, all processes at once.

    Representative cases only (each process costs seconds of imports); every case's message is checked
    in-process above and all take the same path through train.py."""
    runs = {}
    for case in ("missing file", "wrong magic", "checksum mismatch"):
        folder = bad_folder(tmp_path, case)
        runs[case] = cli(tmp_path / "w" / case.replace(" ", "_"), "--config.data.name=mnist",
                         "--config.data.source=idx", f"--config.data.dir={folder}", "--config.data.n_train=0",
                         "--config.data.n_test=0", wait=False)
    for flag in ("--config.lr=nan",):
        runs[flag] = cli(tmp_path / "w" / "cfg", flag, wait=False)
    (tmp_path / "file").write_text("not a folder")
    runs["unwritable"] = cli(tmp_path / "file" / "w", wait=False)
    runs["debug"] = cli(tmp_path / "w" / "debug", "--config.epochs=0", "--debug", wait=False)
    for case, p in runs.items():
        out, err = p.communicate(timeout=300)
        p.stderr = err
        if case == "debug":
            assert p.returncode != 0 and "Traceback" in err and "ConfigError" in err
            continue
        assert p.returncode == 2, (case, err)
        lines = err.strip().splitlines()
        assert lines[-1].startswith("error: ") and "Traceback" not in err, (case, err)
    assert "cannot write to the work folder" in runs["unwritable"].stderr
    assert not (tmp_path / "w" / "cfg").exists()


@pytest.mark.parametrize("flags, rc, text", [
    (["--config.lr=abc"], 1, "FATAL Flags parsing error: flag --config.lr=abc"),      # absl's own message
    (["--config.epoch=5"], 2, "error: unknown config field 'epoch' (did you mean 'epochs'?)"),
    (["--config", "configs/nope.py"], 2, "error: cannot load the config file"),
])
def test_malformed_command_line(flags, rc, text, tmp_path):
    r = train_process(*(flags if "--config" in flags else ["--config", "configs/smoke.py", *flags]),
                      f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == rc and text in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "w").exists()
