"""Train the paper's variants for many seeds at once.

    python train.py [--config configs/NAME.py[:ARG]] [--workdir DIR] [--config.FIELD=VALUE ...]

With no flags it runs configs/default.py into runs/default. ARG goes to the config's get_config (its docstring
says what it means; configs/geometry_gaussians.py:DIM takes the input dimension). Rerunning a command on the
same folder resumes it: finished variants are skipped, an unfinished one continues from its latest checkpoint.
Ctrl-C (SIGINT) or SIGTERM stops after the current chunk with a checkpoint (exit 130 / 143). A folder holding
a different config is refused unless --overwrite is given. Errors a user can fix exit 2 with one line.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import ml_collections
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
    logging.set_verbosity(logging.WARNING)   # Orbax logs every checkpoint step at INFO
    from distnet import config, data
    from distnet.analysis import stats
    from distnet.run import faults, files, preflight, study

    cfg = _CONFIG.value     # parse_flags has loaded the file once already: it exists and get_config took its ARG
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
    if config_spec(argv) is not None:
        return argv
    return [argv[0], "--config", str(DEFAULT_CONFIG), *argv[1:]]


def config_spec(argv: list[str]) -> str | None:
    """The value of --config (PATH or PATH:ARG) on a command line, as absl reads it (the last one given)."""
    spec = None
    for i, a in enumerate(argv[1:], 1):
        if re.fullmatch(r"--?config", a):
            spec = argv[i + 1] if i + 1 < len(argv) else None
        elif re.match(r"--?config=", a):
            spec = a.split("=", 1)[1]
    return spec


def overrides(argv: list[str]) -> list[tuple[str, str | None]]:
    """(FIELD, VALUE) of every --config.FIELD=VALUE (or --config.FIELD VALUE) on a command line; VALUE is None
    for --config.FIELD and --noconfig.FIELD (booleans)."""
    out = []
    for i, a in enumerate(argv[1:], 1):
        m = re.match(r"--?(no)?config\.([^=]+)(?:=(.*))?$", a, re.S)
        if m:
            nxt = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else None
            out.append((m[2], m[3] if m[3] is not None else None if m[1] else nxt))
    return out


# Fields of the gaussians generator (distnet.data.GAUSSIAN_DEFAULTS): a config file adds them to config.data,
# base() does not (run folders written before them keep their recorded protocol).
GAUSSIAN_NOTES = {"classes": "number of classes", "separation": "class means ~ N(0, separation^2 I)",
                  "spread": "largest / smallest eigenvalue of each class covariance (>= 1)"}


def usage() -> str:
    """--help: the command line, every config field with its default and meaning, the configs and the variants."""
    from distnet import config, data
    from distnet.nn import models

    rows = [f"data.{k}" for k in data.GAUSSIAN_DEFAULTS]
    width = max(len(name) for name in [name for name, _, _ in config.fields()] + rows)
    lines = [__doc__.strip(), "",
             "usage: python train.py [--config configs/NAME.py[:ARG]] [--workdir DIR] [--config.FIELD=VALUE ...] "
             "[--overwrite] [--debug]", "",
             "configs: " + ", ".join(sorted(p.name for p in (HERE / "configs").glob("*.py"))) +
             "  (ARG: only for a config whose get_config takes one, e.g. geometry_gaussians.py:DIM)", "",
             "config fields (--config.FIELD=VALUE; the defaults of distnet/config.py:base(), which a config file "
             "may change):"]
    lines += [f"  {name:<{width}}  {value!r:<40} {note}".rstrip() for name, value, note in config.fields()]
    lines += ["", "gaussians generator fields (data.name=gaussians only; defaults: distnet/data.py GAUSSIAN_DEFAULTS). "
              "They are not in base():", "--config.data.FIELD sets one only with a config file that adds it, such "
              "as configs/geometry_gaussians.py:"]
    lines += [f"  data.{k:<{width - 5}}  {v!r:<40} {GAUSSIAN_NOTES.get(k, '')}".rstrip()
              for k, v in data.GAUSSIAN_DEFAULTS.items()]
    lines += ["", "variants (config.variants, a comma list): " + ", ".join(models.NAMES), "",
              "flags:", "  --workdir DIR  run folder (default: runs/<config name>)",
              "  --overwrite    delete variant folders in --workdir that hold a different config",
              "  --debug        show full tracebacks for errors"]
    return "\n".join(lines)


KINDS = {bool: "true or false", int: "an integer", float: "a number", tuple: "a tuple", str: "text"}


def bad_value(argv: list[str], cfg) -> str | None:
    """The sentence for the first --config.FIELD=VALUE whose VALUE the field's own parser refuses (the absl
    parser that ml_collections chose from the field's type in the config), naming the type and an example."""
    from distnet import config

    for name, text in overrides(argv):
        flag = flags.FLAGS[f"config.{name}"] if f"config.{name}" in flags.FLAGS else None
        if flag is None or text is None:
            continue
        try:
            flag.parser.parse(text)
        except (ValueError, TypeError):
            value = cfg
            for part in name.split("[")[0].split("."):
                value = value[part]
            if isinstance(value, ml_collections.ConfigDict):
                key = next(iter(value.keys()))
                return (f"config.{name} is a group of fields, not one value; set one of them, such as "
                        f"--config.{name}.{key}={value[key]!r}")
            if isinstance(value, tuple):
                example = f"'{config.SWEEP_EXAMPLES.get(name, str(value).replace(' ', ''))}'"
            else:
                example = str(value).lower() if isinstance(value, bool) else value
            return (f"config.{name}={text!r} is not {KINDS.get(type(value), type(value).__name__)}; give one such "
                    f"as --config.{name}={example}")
    return None


def parse_flags(argv):
    """absl's parser, but --help lists the config fields, and every mistake on the command line (the config file
    or its :ARG, a --config.FIELD that names no field or a VALUE its field cannot take, an unknown flag) is one
    line on stderr and exit 2 (the traceback with --debug)."""
    if any(a in ("--help", "-h", "-?", "--helpshort") for a in argv[1:]):
        print(usage())
        sys.exit(0)
    from distnet import config, data

    argv = with_default_config(argv)
    cfg = None
    try:
        spec = config_spec(argv)
        if spec is not None:        # else absl says that --config lacks a value
            cfg = config.load_file(spec)
            absent = {f"data.{k}": f"config.data.{k} is a field of the gaussians generator that {spec} does not "
                                   f"set, so the command line cannot set it; give a config that sets it, such as "
                                   f"--config configs/geometry_gaussians.py (without it the generator uses {v})"
                      for k, v in data.GAUSSIAN_DEFAULTS.items()}
            config.check_overrides(cfg, [name for name, _ in overrides(argv)], absent)
        rest = flags.FLAGS(argv)
        if len(rest) > 1:
            raise config.ConfigError(f"unexpected arguments {rest[1:]}; fields are set with --config.FIELD=VALUE")
        return rest
    except (config.ConfigError, flags.Error) as e:
        if "--debug" in argv:
            raise
        if isinstance(e, config.ConfigError):
            text = str(e)
        else:       # absl refused a value or a flag: name the field and its type where the config says them
            text = (bad_value(argv, cfg) if cfg is not None else None) or \
                f"{str(e).strip().splitlines()[0]}; `python train.py --help` lists the flags"
        print(f"error: {text}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    from distnet.run import files
    files.readable_console()
    files.quiet_orphans()
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=parse_flags)
