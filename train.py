"""Train the paper's variants for many seeds at once.

    python train.py [--config configs/NAME.py] [--workdir DIR] [--config.FIELD=VALUE ...]

With no flags it runs configs/default.py into runs/default. Rerunning a command on the same folder
resumes it: finished variants are skipped, an unfinished one continues from its latest checkpoint.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

HERE = Path(__file__).resolve().parent
_CONFIG = config_flags.DEFINE_config_file("config", str(HERE / "configs" / "default.py"),
                                          "config file (configs/*.py); override fields with --config.FIELD=VALUE")
_WORKDIR = flags.DEFINE_string("workdir", None, "run folder (default: runs/<config name>)")
_DEBUG = flags.DEFINE_bool("debug", False, "show full tracebacks for errors")


def main(argv) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}; fields are set with --config.FIELD=VALUE")
    logging.set_verbosity(logging.WARNING)   # Orbax logs every checkpoint step at INFO
    from distnet import config, data, experiment

    cfg = _CONFIG.value
    workdir = Path(_WORKDIR.value or Path("runs") / Path(flags.FLAGS["config"].config_filename).stem)
    try:
        t0 = time.perf_counter()
        table = experiment.run_all(cfg, workdir)
        print(f"\n{table}")
        print(f"done in {time.perf_counter() - t0:.0f}s; results in {workdir}/summary.md")
    except (config.ConfigError, data.DataError) as e:
        if _DEBUG.value:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def parse_flags(argv):
    """absl's parser, with unknown --config.FIELD overrides reported in one line instead of a traceback."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"FATAL Flags parsing error: {e}\nPass --helpshort or --helpfull to see help on flags.", file=sys.stderr)
    except (AttributeError, KeyError) as e:   # ml_collections: the override names no config field
        hint = str(e).strip("'\"").replace("\\n", " ").replace("\n", " ").replace("\\'", "'")
        print(f"error: unknown config field in an override: {hint}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
