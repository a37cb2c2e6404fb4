"""Bad data files, bad config values and bad command lines through train.py: exit code 2 and one line naming the
file or field and the fix, no traceback (unless --debug), nothing written. Every message itself is tested where it
is raised (tests/test_data.py, test_config.py, test_plan.py)."""
from __future__ import annotations


import pytest


from helpers import bad_folder, train_process


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
    (["--config.lr=abc"], 2, "error: config.lr='abc' is not a number; give one such as --config.lr=0.05"),
    (["--config", "configs/geometry_gaussians.py:0"], 2,
     "error: configs/geometry_gaussians.py takes the input dimension after ':', a positive integer such as 2, 10 "
     "or 100 (got '0')"),
    (["--config.data.classes=3"], 2, "error: config.data.classes is a field of the gaussians generator that "
                                     "configs/smoke.py does not set"),
    (["--config.epoch=5"], 2, "error: unknown config field 'epoch' (did you mean 'epochs'?)"),
    (["--config", "configs/nope.py"], 2, "error: cannot load the config file"),
])
def test_a_malformed_command_line_gets_one_line_and_no_folder(flags, rc, text, tmp_path):
    r = train_process(*(flags if "--config" in flags else ["--config", "configs/smoke.py", *flags]),
                      f"--workdir={tmp_path / 'w'}", timeout=120)
    assert r.returncode == rc and r.stderr.startswith(text) and len(r.stderr.splitlines()) == 1, r.stderr
    assert not (tmp_path / "w").exists()
