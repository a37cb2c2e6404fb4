"""The worst value each machine-dependent comparison of the test suite reached, over many runs.

The suite's tolerance tests (float32 against float64, split against plain, vmapped against looped, chunked, sharded)
call tests/helpers.record_margin, which appends what each comparison measured to the file $DISTNET_TEST_MARGINS
names. Run the suite with it set, at several ISA levels and core counts, then gather the files:

    for isa in SSE4_2 AVX AVX2; do
      DISTNET_TEST_MARGINS=/tmp/margins_$isa.jsonl XLA_FLAGS=--xla_cpu_max_isa=$isa python -m pytest -q
    done
    python benchmarks/margins.py /tmp/margins_*.jsonl

One row per (test, quantity): the worst observed value over every run and every call, the tolerance, their ratio
(how much of the tolerance the worst machine used), and where that worst came from (file, XLA_FLAGS, case).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def gather(paths: list[Path], each: bool = False) -> dict[tuple[str, str], dict]:
    """{(test, quantity): the worst row}; parametrized cases of one test are one test unless `each`."""
    worst: dict[tuple[str, str], dict] = {}
    for path in paths:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"error: {path}:{n} is not a JSON line ({e.msg})")
            test = row["test"] if each else row["test"].split("[", 1)[0]
            key = (test, row["what"])
            ratio = row["observed"] / row["limit"] if row["limit"] else (0.0 if row["observed"] == 0 else float("inf"))
            w = worst.setdefault(key, {"ratio": -1.0, "calls": 0, "runs": set()})
            w["calls"] += 1
            w["runs"].add(path.name)
            if ratio > w["ratio"]:
                w.update(ratio=ratio, observed=row["observed"], limit=row["limit"],
                         where=f"{path.name} {row['xla_flags'] or '(best ISA)'} {row['test'].partition('[')[2][:-1]}")
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="JSON-lines files written with $DISTNET_TEST_MARGINS")
    ap.add_argument("--each", action="store_true", help="a row per parametrized case, not per test function")
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        sys.exit(f"error: not a file: {', '.join(missing)}")
    worst = gather(args.files, args.each)
    print(f"{len(args.files)} run(s)\n")
    print("| test | quantity | worst seen | tolerance | worst / tolerance | runs (calls) | worst in |")
    print("|---|---|---|---|---|---|---|")
    for (test, what), w in sorted(worst.items()):
        cells = [test.removeprefix("tests/"), what, f"{w['observed']:.3g}", f"{w['limit']:.3g}", f"{w['ratio']:.3f}",
                 f"{len(w['runs'])} ({w['calls']})", w["where"]]
        print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")   # a quantity may hold |a - b|
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
