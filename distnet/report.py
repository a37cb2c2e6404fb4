"""Compare the variants of one or more run folders: tables, tests of significance, the paper's numbers, figures.

    python -m distnet.report DIR [DIR ...] [--out DIR]

Reads run folders through distnet.runs only and never retrains. Writes report.md, report.json, report.tex
and figures/*.png into --out (default: the first DIR). Several folders merge (e.g. the main and bias studies);
a variant name seen twice gets its folder's name appended.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import matplotlib
import numpy as np
from scipy import stats as sps

from distnet import runs
from distnet.published import PUBLISHED, PREPROCESS, SEEDS

PLATEAU_TOL = 0.01   # training loss "stops improving" once within 1% of its total decrease from the minimum


# --- statistics ------------------------------------------------------------------------------------------

def welch(a, b) -> dict:
    """Welch's unequal-variance t-test (two-sided): t, df, p."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (a.mean() - b.mean()) / math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return {"t": float(t), "df": float(df), "p": float(2 * sps.t.sf(abs(t), df))}


def paired(a, b) -> dict:
    """Paired t-test (two-sided) on per-seed differences: t, df, p."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    df = len(d) - 1
    return {"t": float(t), "df": float(df), "p": float(2 * sps.t.sf(abs(t), df))}


def cohens_d(a, b) -> float:
    """Cohen's d with the pooled standard deviation (ddof=1)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")


def holm(pvals) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN."""
    p = np.asarray(pvals, np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


def plateau_epoch(epoch_E, loss_SxE, tol=PLATEAU_TOL) -> int:
    """First epoch at which the seed-mean training loss is within `tol` of its total decrease from its minimum."""
    loss = np.nanmean(np.asarray(loss_SxE, np.float64), axis=0)
    lo = np.nanmin(loss)
    return int(np.asarray(epoch_E)[np.argmax(loss - lo <= tol * max(loss[0] - lo, 1e-12))])


# --- gathering ---------------------------------------------------------------------------------------------

def _mean(x):
    return float(np.mean(x)) if x is not None and len(np.atleast_1d(x)) else None


def gather(dirs) -> list[dict]:
    """One record per finished variant across the folders: name, protocol, per-seed accuracies, stats."""
    out, seen = [], {}
    for d in dirs:
        for v, rec in runs.load(d).items():
            if rec["summary"] is None or rec["metrics"] is None:
                continue
            seen[v] = seen.get(v, 0) + 1
            c = rec["config"]["config"]
            out.append({"name": v if seen[v] == 1 else f"{v} [{Path(d).name}]", "variant": v, "dir": str(d),
                        "protocol": {"epochs": c["epochs"], "seeds": c["num_seeds"], "seed": c["seed"],
                                     "data": c["data"]["name"], "preprocess": c["data"]["preprocess"],
                                     "n_train": rec["config"]["data"].get("n_train"),
                                     "lr": c["lr"]},
                        "summary": rec["summary"], "metrics": rec["metrics"], "stats": runs.load_stats(rec["dir"])})
    return out


def variant_row(r) -> dict:
    """Per variant: accuracy statistics, training accuracy, plateau epoch, dead units, distance share, probes."""
    m, s = r["metrics"], r["stats"] or {}
    test = runs.describe(m["test_acc"][:, -1])
    row = {"name": r["name"], "protocol": r["protocol"], "status": r["summary"].get("status"),
           "test_acc": test, "test_acc_per_seed": m["test_acc"][:, -1].tolist(),
           "train_acc": runs.describe(m["train_acc"][:, -1]), "plateau_epoch": plateau_epoch(m["epoch"], m["train_loss"])}
    cheap = s.get("cheap")
    if cheap:
        row["activity"] = {split: {layer: {k: (v if k == "units" else _mean(v)) for k, v in c.items()}
                                   for layer, c in per.items()} for split, per in cheap["activity"].items()}
        row["distance_share"] = _mean(cheap["output_geometry"]["distance_share"])
        row["intensity_share"] = _mean(cheap["output_geometry"]["intensity_share"])
    if "perturbation" in s:
        row["half_point"] = {layer: {w: float(np.nanmean(p[f"half_{w}"])) if np.isfinite(p[f"half_{w}"]).any()
                                     else None for w in ("below", "above")}
                             for layer, p in s["perturbation"].items()}
    return row


def pair_rows(records) -> list[dict]:
    """Every pair: Welch's t-test, the paired t-test when they share seeds, Cohen's d; Holm within each family."""
    rows = []
    for a, b in itertools.combinations(records, 2):
        x, y = a["metrics"]["test_acc"][:, -1], b["metrics"]["test_acc"][:, -1]
        shared = (a["protocol"]["seed"], len(x)) == (b["protocol"]["seed"], len(y)) and len(x) > 1
        rows.append({"a": a["name"], "b": b["name"], "diff_pct": 100 * float(x.mean() - y.mean()),
                     "welch": welch(x, y), "paired": paired(x, y) if shared else None, "cohens_d": cohens_d(x, y)})
    for family in ("welch", "paired"):
        idx = [i for i, r in enumerate(rows) if r[family]]
        for i, adj in zip(idx, holm([rows[i][family]["p"] for i in idx])):
            rows[i][family]["p_holm"] = float(adj)
    return rows


def published_rows(records) -> list[dict]:
    """The run's mean against every published version of the same variant, with both protocols."""
    rows = []
    for r in records:
        acc = 100 * r["metrics"]["test_acc"][:, -1]
        for version, (mean, std, epochs) in PUBLISHED.get(r["variant"], {}).items():
            inside = None if std is None else bool(abs(acc.mean() - mean) <= 2 * std)
            p = r["protocol"]
            short = p["epochs"] < epochs or p["seeds"] < SEEDS or p["preprocess"] != PREPROCESS or p["data"] != "mnist"
            rows.append({"name": r["name"], "version": version, "paper_mean": mean, "paper_std": std,
                         "paper_epochs": epochs, "run_mean": float(acc.mean()), "run_std": float(acc.std(ddof=1))
                         if len(acc) > 1 else 0.0, "inside_2std": inside, "run_protocol": p,
                         "comparable": not short})
    return rows


def build(dirs) -> dict:
    """The whole report as plain data (what report.json holds)."""
    records = gather(dirs)
    if not records:
        raise ValueError(f"no finished variant in {', '.join(map(str, dirs))}; train one with train.py first")
    return {"dirs": [str(d) for d in dirs], "variants": [variant_row(r) for r in records],
            "pairs": pair_rows(records), "published": published_rows(records)}, records


# --- rendering ---------------------------------------------------------------------------------------------

def _f(x, fmt="{:.2f}"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _p(x):
    return "n/a" if x is None or math.isnan(x) else (f"{x:.2e}" if x < 1e-3 else f"{x:.3f}")


def markdown(rep: dict, figures: list[str]) -> str:
    L = ["# Variant comparison", "", f"Run folders: {', '.join(rep['dirs'])}", "",
         "## Test accuracy (%, final epoch, over seeds)", "",
         "| variant | epochs | seeds | preprocess | n_train | mean | std | 95% t CI | min | max | train acc | "
         "loss plateau epoch |", "|" + "---|" * 12]
    for v in rep["variants"]:
        t, p = v["test_acc"], v["protocol"]
        L.append(f"| {v['name']} | {p['epochs']} | {p['seeds']} | {p['preprocess']} | {p['n_train']} | "
                 f"{100 * t['mean']:.2f} | {100 * t['std']:.2f} | [{_f(100 * t['ci95'][0])}, {_f(100 * t['ci95'][1])}]"
                 f" | {100 * t['min']:.2f} | {100 * t['max']:.2f} | {100 * v['train_acc']['mean']:.2f} | "
                 f"{v['plateau_epoch']} |")
    L += ["", "## Dead and rarely active units (train split, mean count over seeds; rare counts include dead)", "",
          "| variant | hidden units | hidden dead | hidden <1% | hidden <5% | output units | output dead | "
          "output <1% | output <5% | distance-code share | intensity-code share |", "|" + "---|" * 11]
    for v in rep["variants"]:
        if "activity" not in v:
            L.append(f"| {v['name']} | no statistics: run `python -m distnet.analyze` |" + " |" * 9)
            continue
        h, o = v["activity"]["train"]["hidden_post"], v["activity"]["train"]["output_post"]
        L.append(f"| {v['name']} | {h['units']} | {h['dead']:.1f} | {h['rare_1pct']:.1f} | {h['rare_5pct']:.1f} | "
                 f"{o['units']} | {o['dead']:.1f} | {o['rare_1pct']:.1f} | {o['rare_5pct']:.1f} | "
                 f"{v['distance_share']:.2f} | {v['intensity_share']:.2f} |")
    if any("half_point" in v for v in rep["variants"]):
        L += ["", "## Perturbation probes: clamp fraction where test accuracy halves (mean over seeds; n/a = never)",
              "", "| variant | hidden from below | hidden from above | output from below | output from above |",
              "|---|---|---|---|---|"]
        for v in rep["variants"]:
            hp = v.get("half_point")
            if hp:
                L.append(f"| {v['name']} | " + " | ".join(_f(hp[l][w]) for l in ("hidden_post", "output_post")
                                                          for w in ("below", "above")) + " |")
    L += ["", "## Pairwise tests on final test accuracy",
          "Welch = unpaired unequal-variance t-test (what the paper runs); paired = t-test on per-seed "
          "differences (valid because variants share seeds, which the paper's design implies). Holm-corrected "
          "within each family over all pairs. d = Cohen's d (pooled std).", "",
          "| A | B | A-B (pp) | Welch t | Welch p | Welch p (Holm) | paired t | paired p | paired p (Holm) | d |",
          "|" + "---|" * 10]
    for r in rep["pairs"]:
        w, pr = r["welch"], r["paired"] or {}
        L.append(f"| {r['a']} | {r['b']} | {r['diff_pct']:+.2f} | {_f(w['t'])} | {_p(w['p'])} | {_p(w['p_holm'])} | "
                 f"{_f(pr.get('t'))} | {_p(pr.get('p'))} | {_p(pr.get('p_holm'))} | {_f(r['cohens_d'])} |")
    L += ["", "## Against the published numbers (paper: 20 seeds, raw pixels, 5,000 or 50,000 epochs)",
          "A run with fewer epochs or seeds, or other data, is NOT a reproduction: see 'comparable'.", "",
          "| variant | paper version | paper mean +/- std | paper epochs | run mean +/- std | run epochs / seeds / "
          "preprocess | inside paper mean +/- 2 std | comparable |", "|" + "---|" * 8]
    for r in rep["published"]:
        p = r["run_protocol"]
        inside = "n/a (no std)" if r["inside_2std"] is None else ("yes" if r["inside_2std"] else "no")
        L.append(f"| {r['name']} | {r['version']} | {r['paper_mean']:.2f} +/- {_f(r['paper_std'])} | "
                 f"{r['paper_epochs']} | {r['run_mean']:.2f} +/- {r['run_std']:.2f} | {p['epochs']} / {p['seeds']} / "
                 f"{p['preprocess']} | {inside} | {'yes' if r['comparable'] else 'no (short run)'} |")
    L += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(L) + "\n"


def latex(rep: dict) -> str:
    """The per-variant accuracy table as a LaTeX tabular."""
    L = [r"\begin{tabular}{lrrrrl}", r"\hline",
         r"Model & Epochs & Seeds & Mean (\%) & Std & 95\% CI \\", r"\hline"]
    for v in rep["variants"]:
        t = v["test_acc"]
        L.append(f"{v['name'].replace('_', chr(92) + '_')} & {v['protocol']['epochs']} & {t['n']} & "
                 f"{100 * t['mean']:.2f} & {100 * t['std']:.2f} & [{_f(100 * t['ci95'][0])}, {_f(100 * t['ci95'][1])}] \\\\")
    return "\n".join(L + [r"\hline", r"\end{tabular}"]) + "\n"


def write(dirs, out=None, log=print) -> dict:
    """Build the report of `dirs` and write report.md/.json/.tex and figures into `out` (default dirs[0])."""
    from distnet import plots

    out = Path(out or dirs[0])
    rep, records = build(dirs)
    log(f"report: {len(records)} variant(s) from {len(dirs)} folder(s); drawing figures")
    figures = plots.all_figures(records, out / "figures", log=log)
    rel = [str(Path(f).relative_to(out)) for f in figures]
    runs.write_json(out / "report.json", {**rep, "figures": rel})
    runs.write_text(out / "report.md", markdown(rep, rel))
    runs.write_text(out / "report.tex", latex(rep))
    log(f"report: wrote {out / 'report.md'}, report.json, report.tex and {len(figures)} figure(s)")
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m distnet.report", description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", help="run folders written by train.py")
    ap.add_argument("--out", default=None, help="where to write the report (default: the first folder)")
    args = ap.parse_args(argv)
    matplotlib.use("Agg")   # files only; the notebooks keep their inline backend
    for d in args.dirs:
        if not runs.is_run_folder(d):
            print(f"error: {d} is not a run folder (no <variant>/config.json inside); "
                  f"give folders written by train.py", file=sys.stderr)
            return 2
    try:
        write(args.dirs, args.out)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
