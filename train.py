"""Train the paper's variants for many seeds at once.

    python train.py [--config configs/NAME.py] [--workdir DIR] [--config.FIELD=VALUE ...]

With no flags it runs configs/default.py into runs/default. Rerunning a command on the same folder
resumes it: finished variants are skipped, an unfinished one continues from its latest checkpoint.
Ctrl-C (SIGINT) or SIGTERM stops after the current chunk with a checkpoint (exit 130 / 143). A folder holding
a different config is refused unless --overwrite is given. Errors a user can fix exit 2 with one line.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "configs" / "default.py"
# No default here: ml_collections would apply --config.FIELD overrides while defining the flag, before any handler
# could turn a typo into one sentence. main() passes configs/default.py itself when --config is not given.
_CONFIG = config_flags.DEFINE_config_file("config", None,
                                          "config file (configs/*.py); override fields with --config.FIELD=VALUE")
_WORKDIR = flags.DEFINE_string("workdir", None, "run folder (default: runs/<config name>)")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "delete variant folders in --workdir that hold a different "
                                "config, instead of refusing to run")
_DEBUG = flags.DEFINE_bool("debug", False, "show full tracebacks for errors")


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; fields are set with --config.FIELD=VALUE")
    logging.set_verbosity(logging.WARNING)   # Orbax logs every checkpoint step at INFO
    from distnet import config, data
    from distnet.analysis import stats
    from distnet.run import faults, files, preflight, study

    try:
        cfg = _CONFIG.value
        cfg.keys()
    except OSError as e:    # ml_collections defers a missing or broken config file to the first access
        return _error(f"cannot load the config file ({str(e).splitlines()[-1].strip()}); give an existing "
                      f"file such as --config configs/default.py")
    workdir = Path(_WORKDIR.value or Path("runs") / Path(flags.FLAGS["config"].config_filename).stem)
    try:
        t0 = time.perf_counter()
        table = study.run_all(cfg, workdir, overwrite=_OVERWRITE.value, summarize=stats.summary_statistics)
        print(f"\n{table}")
        print(f"done in {time.perf_counter() - t0:.0f}s; results in {workdir}/summary.md")
        print(f"next: python -m distnet.analysis.analyze {workdir}   (distance statistics and probes)\n"
              f"      python -m distnet.analysis.report {workdir}    (tables, tests and figures)")
    except faults.Interrupted as e:
        print(f"{e}", file=sys.stderr)
        return 128 + e.signum
    except (config.ConfigError, data.DataError, preflight.WorkdirError, files.RunFileError, files.Busy) as e:
        return _error(str(e))
    except OSError as e:        # permission denied, disk full, a file-size limit: named, with the fix
        text = files.os_error_text(e, workdir, then="rerun the same command to resume")
        if text is None:
            raise
        return _error(text)
    return 0


def _error(message: str) -> int:
    """One line on stderr and exit code 2; with --debug, the traceback of the error being handled."""
    if _DEBUG.value:
        raise
    print(f"error: {message}", file=sys.stderr)
    return 2


def with_default_config(argv: list[str]) -> list[str]:
    """argv with `--config configs/default.py` added when it names no config file."""
    if any(a == "--config" or a.startswith("--config=") for a in argv[1:]):
        return argv
    return [argv[0], "--config", str(DEFAULT_CONFIG), *argv[1:]]


def usage() -> str:
    """--help: the command line, every config field with its default and meaning, the configs and the variants."""
    from distnet import config
    from distnet.nn import models

    width = max(len(name) for name, _, _ in config.fields())
    lines = [__doc__.strip(), "",
             "usage: python train.py [--config configs/NAME.py] [--workdir DIR] [--config.FIELD=VALUE ...] "
             "[--overwrite] [--debug]", "",
             "configs: " + ", ".join(sorted(p.name for p in (HERE / "configs").glob("*.py"))), "",
             "config fields (--config.FIELD=VALUE; the defaults of distnet/config.py:base(), which a config file "
             "may change):"]
    lines += [f"  {name:<{width}}  {value!r:<40} {note}".rstrip() for name, value, note in config.fields()]
    lines += ["", "variants (config.variants, a comma list): " + ", ".join(models.NAMES), "",
              "flags:", "  --workdir DIR  run folder (default: runs/<config name>)",
              "  --overwrite    delete variant folders in --workdir that hold a different config",
              "  --debug        show full tracebacks for errors"]
    return "\n".join(lines)


def parse_flags(argv):
    """absl's parser, but --help lists the config fields, and a typo in --config.FIELD or a missing config file
    is one line and exit 2."""
    if any(a in ("--help", "-h", "-?", "--helpshort") for a in argv[1:]):
        print(usage())
        sys.exit(0)
    argv = with_default_config(argv)
    try:
        return app.parse_flags_with_usage(argv)
    except (AttributeError, KeyError) as e:      # ml_collections: --config.FIELD names no field
        if "--debug" in argv:
            raise
        hint = re.search(r'"(\w+)" instead of "(\w+)"', str(e))
        field = f"{hint[2]!r} (did you mean {hint[1]!r}?)" if hint else re.sub(r"[\\'\"]", "", str(e)).split()[0]
        print(f"error: unknown config field {field} on the command line; `python train.py --help` lists every "
              f"field with its default", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
