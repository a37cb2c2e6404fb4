"""What the geometry along training adds to analyze: `python -m distnet.analysis.analyze --force` on two copies of
a run folder with a known truth, one with the track, one without (each checkpoint's scoring skipped), each in its
own process, interleaved.

    python benchmarks/geometry_track_cost.py DIR [--rounds 1]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE = r"""
import sys
from distnet.analysis import analyze, geometry_track
if sys.argv[2] == "without":
    geometry_track.track = lambda vdir, model, lanes, *a, **k: [{} for _ in range(lanes.n_points)]
analyze.analyze(sys.argv[1], force=True, log=lambda *a: None)
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            seconds = {}
            for how in ("without", "with"):
                copy = Path(tmp) / f"{how}{r}"
                shutil.copytree(args.dir, copy)
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", ONE, str(copy), how], check=True)
                seconds[how] = time.perf_counter() - t0
            print(f"round {r + 1}: analyze without the track {seconds['without']:.1f} s, with it "
                  f"{seconds['with']:.1f} s ({seconds['with'] / seconds['without']:.2f}x)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
