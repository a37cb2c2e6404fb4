"""Compare the variants of one or more run folders: tables, tests of significance, the paper's numbers, figures.

    python -m distnet.analysis.report DIR [DIR ...] [--out DIR]

Reads run folders through distnet.run.folder and never retrains. Writes report.md, report.json, report.tex and
figures/*.png into OUT/report (OUT: --out, default the first DIR), replacing the previous report whole, never
file by file, while holding OUT's lock. Several folders merge (e.g. the main and bias studies); a
variant name seen twice gets its folder's name appended. A variant that has not finished training is left out
and named, with how far it got, on the console and in report.md.
"""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import matplotlib

from distnet.analysis import compare, render, report_files, unfinished
from distnet.run import files, folder


def write(dirs, out=None, log=print) -> dict:
    """Build the report of `dirs` and write report.md/.json/.tex and figures into `out`/report (default dirs[0]),
    all replaced together (report_files.new_report), holding `out`'s lock."""
    from distnet.analysis import plots

    out = Path(out or dirs[0])
    final = out / report_files.REPORT
    with folder.lock(out, "python -m distnet.analysis.report",
                     hint="wait for it to finish, or write the report elsewhere with --out"):
        rep, records = compare.build(dirs)
        log(f"report: {len(records)} variant(s) from {len(dirs)} folder(s); drawing figures")
        if rep["unfinished"]:
            log(f"report: left out, unfinished: {'; '.join(map(unfinished.text, rep['unfinished']))} (rerun the "
                f"train.py command that wrote the folder to finish them)")
        if lost := report_files.gone(out, rep):
            rep["gone"] = lost
            log(f"report: the previous report in {final} held {', '.join(lost)}, which this one lacks (their "
                f"folders were deleted or moved); report.md says so")
        with report_files.new_report(out) as into:
            # each figure is named by where it will be (OUT/report/figures/...), not by the hidden folder that
            # becomes the report only once every file is written
            figures = plots.all_figures(records, into, log=log, shown_as=final)
            rel = [str(Path(f).relative_to(into)) for f in figures]
            report_files.write_report(into, report_files.with_gone(render.markdown(rep, rel), lost),
                                      {**rep, "figures": rel}, render.latex(rep))
    log(f"report: wrote {final / 'report.md'}, report.json, report.tex and {len(figures)} figure(s) in "
        f"{final / 'figures'}")
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m distnet.analysis.report", description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", help="run folders written by train.py")
    ap.add_argument("--out", default=None, help="where to write the report (default: the first folder)")
    args = ap.parse_args(argv)
    matplotlib.use("Agg")   # files only; the notebooks keep their inline backend
    unique = {}
    for d in args.dirs:     # a folder named twice (or by two spellings) counts once
        unique.setdefault(Path(d).resolve(), d)
    args.dirs = list(unique.values())
    for d in args.dirs:
        if not folder.is_run_folder(d):
            print(f"error: {d} is not a run folder (no <variant>/config.json inside); "
                  f"give folders written by train.py", file=sys.stderr)
            return 2
    try:
        write(args.dirs, args.out)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile, files.RunFileError, files.Busy) as e:
        print(f"error: {files.error_text(e, args.out or args.dirs[0])}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    files.readable_console()
    files.quiet_orphans()
    sys.exit(main())
