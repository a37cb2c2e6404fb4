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
import zipfile
from pathlib import Path

import matplotlib
import numpy as np
from scipy import stats as sps

from distnet import runs
from distnet.published import HIDDEN, LR, N_TEST, N_TRAIN, PREPROCESS, PUBLISHED, SEEDS

PLATEAU_TOL = 0.01   # training loss "stops improving" once within 1% of its total decrease from the minimum


# --- statistics ------------------------------------------------------------------------------------------

def _t(res) -> dict:
    return {"t": float(res.statistic), "df": float(res.df), "p": float(res.pvalue)}


def welch(a, b) -> dict:
    """Welch's unequal-variance t-test (two-sided, scipy's ttest_ind): t, df, p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _t(sps.ttest_ind(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_var=False))


def paired(a, b) -> dict:
    """Paired t-test (two-sided, scipy's ttest_rel) on per-seed differences: t, df, p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _t(sps.ttest_rel(np.asarray(a, np.float64), np.asarray(b, np.float64)))


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
    """One record per finished variant across the folders: name, status, protocol (epochs as trained, from
    the summary; train/test sizes as loaded, from the data record), per-seed accuracies, stats."""
    out, seen = [], {}
    for d in dirs:
        for v, rec in runs.load(d).items():
            if rec["summary"] is None or rec["metrics"] is None:
                continue
            seen[v] = seen.get(v, 0) + 1
            c, info = rec["config"]["config"], rec["config"]["data"]
            out.append({"name": v if seen[v] == 1 else f"{v} [{Path(d).name}]", "variant": v,
                        "status": rec["summary"].get("status"),
                        "protocol": {"epochs": rec["summary"]["epochs"], "seeds": c["num_seeds"], "seed": c["seed"],
                                     "data": c["data"]["name"], "preprocess": c["data"]["preprocess"],
                                     "n_train": info.get("n_train", c["data"].get("n_train")),
                                     "n_test": info.get("n_test", c["data"].get("n_test")),
                                     "lr": c["lr"], "hidden": c["hidden"]},
                        "metrics": rec["metrics"], "stats": runs.load_stats(rec["dir"])})
    return out


def ok(records) -> list[dict]:
    """The records that did not diverge: the only ones tested against each other or the paper."""
    return [r for r in records if r["status"] != "diverged"]


def protocol_differences(p: dict, paper_epochs: int) -> list[str]:
    """How a run's protocol differs from the paper's ([] = the paper's protocol exactly)."""
    want = {"epochs": (p["epochs"] == paper_epochs, paper_epochs), "lr": (p["lr"] == LR, LR),
            "hidden": (p["hidden"] == HIDDEN, HIDDEN), "n_train": (p["n_train"] in (0, N_TRAIN), N_TRAIN),
            "n_test": (p["n_test"] in (0, N_TEST), N_TEST), "data": (p["data"] == "mnist", "mnist"),
            "preprocess": (p["preprocess"] == PREPROCESS, PREPROCESS), "seeds": (p["seeds"] >= SEEDS, SEEDS)}
    return [f"{k} {p[k]} vs {paper}" for k, (same, paper) in want.items() if not same]


def half_summary(half_S) -> dict:
    """Mean half point over the seeds that halve, and how many do (a plain mean hides those that never do)."""
    h = np.asarray(half_S, np.float64)   # None (JSON null) -> NaN: the seed never halves
    k = int(np.isfinite(h).sum())
    return {"mean": float(np.nanmean(h)) if k else None, "halved": k, "seeds": len(h)}


def variant_row(r) -> dict:
    """Per variant: accuracy statistics, training accuracy, plateau epoch, dead units, distance share, probes."""
    m, s = r["metrics"], r["stats"] or {}
    test = runs.describe(m["test_acc"][:, -1])
    row = {"name": r["name"], "protocol": r["protocol"], "status": r["status"],
           "test_acc": test, "test_acc_per_seed": m["test_acc"][:, -1].tolist(),
           "train_acc": runs.describe(m["train_acc"][:, -1]), "plateau_epoch": plateau_epoch(m["epoch"], m["train_loss"])}
    cheap = s.get("cheap")
    if cheap:
        row["activity"] = {split: {layer: {k: (v if k == "units" else _mean(v)) for k, v in c.items()}
                                   for layer, c in per.items()} for split, per in cheap["activity"].items()}
        row["distance_share"] = _mean(cheap["output_geometry"]["distance_share"])
        row["intensity_share"] = _mean(cheap["output_geometry"]["intensity_share"])
    if "perturbation" in s:
        row["half_point"] = {layer: {w: half_summary(p[f"half_{w}"]) for w in ("below", "above")}
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
    """The run's mean against every published version of the same variant, with both protocols; where the
    run follows the paper's protocol exactly, also Welch's t-test of its seeds against the published mean,
    std and n = 20."""
    rows = []
    for r in records:
        acc = 100 * r["metrics"]["test_acc"][:, -1]
        run_std = float(acc.std(ddof=1)) if len(acc) > 1 else 0.0
        for version, (mean, std, epochs) in PUBLISHED.get(r["variant"], {}).items():
            inside = None if std is None else bool(abs(acc.mean() - mean) <= 2 * std)
            differs = protocol_differences(r["protocol"], epochs)
            test = None
            if not differs and std is not None:
                res = sps.ttest_ind_from_stats(acc.mean(), run_std, len(acc), mean, std, SEEDS, equal_var=False)
                test = {"t": float(res.statistic), "p": float(res.pvalue)}
            rows.append({"name": r["name"], "version": version, "paper_mean": mean, "paper_std": std,
                         "paper_epochs": epochs, "run_mean": float(acc.mean()), "run_std": run_std,
                         "inside_2std": inside, "run_protocol": r["protocol"], "comparable": not differs,
                         "differences": differs, "welch_vs_paper": test})
    return rows


def build(dirs) -> tuple[dict, list[dict]]:
    """(the whole report as plain data, what report.json holds; the gathered variant records)."""
    records = gather(dirs)
    if not records:
        raise ValueError(f"no finished variant in {', '.join(map(str, dirs))}; train one with train.py first")
    good = ok(records)
    return {"dirs": [str(d) for d in dirs], "variants": [variant_row(r) for r in records],
            "diverged": [r["name"] for r in records if r["status"] == "diverged"],
            "pairs": pair_rows(good), "published": published_rows(good)}, records


# --- rendering ---------------------------------------------------------------------------------------------

def _f(x, fmt="{:.2f}"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def _p(x):
    return "n/a" if x is None or math.isnan(x) else (f"{x:.2e}" if x < 1e-3 else f"{x:.3f}")


def _half(h) -> str:
    return f"{_f(h['mean'])} ({h['halved']}/{h['seeds']} seeds halve)"


def markdown(rep: dict, figures: list[str]) -> str:
    L = ["# Variant comparison", "", f"Run folders: {', '.join(rep['dirs'])}", "",
         "## Test accuracy (%, final epoch, over seeds)", "",
         f"| variant | status | epochs | seeds | preprocess | n_train | {runs.ACC_HEAD} | loss plateau epoch |",
         "|" + "---|" * 12]
    for v in rep["variants"]:
        p = v["protocol"]
        L.append(f"| {v['name']} | {v['status']} | {p['epochs']} | {p['seeds']} | {p['preprocess']} | {p['n_train']} | "
                 f"{runs.acc_cells(v['test_acc'], v['train_acc'])} | {v['plateau_epoch']} |")
    if rep["diverged"]:
        L += ["", f"**Diverged** (NaN/Inf; left out of the tests and the paper comparison): "
                  f"{', '.join(rep['diverged'])}."]
    L += ["", "## Dead and rarely active units (train split, mean count over seeds; rare counts include dead)", "",
          "| variant | status | hidden units | hidden dead | hidden <1% | hidden <5% | output units | output dead | "
          "output <1% | output <5% | distance-code share | intensity-code share |", "|" + "---|" * 12]
    for v in rep["variants"]:
        if "activity" not in v:
            why = "diverged: no statistics" if v["status"] == "diverged" else \
                "no statistics: run `python -m distnet.analyze`"
            L.append(f"| {v['name']} | {v['status']} | {why} |" + " |" * 9)
            continue
        h, o = v["activity"]["train"]["hidden_post"], v["activity"]["train"]["output_post"]
        L.append(f"| {v['name']} | {v['status']} | {h['units']} | {h['dead']:.1f} | {h['rare_1pct']:.1f} | {h['rare_5pct']:.1f} | "
                 f"{o['units']} | {o['dead']:.1f} | {o['rare_1pct']:.1f} | {o['rare_5pct']:.1f} | "
                 f"{v['distance_share']:.2f} | {v['intensity_share']:.2f} |")
    if any("half_point" in v for v in rep["variants"]):
        L += ["", "## Perturbation probes: clamp fraction where test accuracy halves",
              "Mean over the seeds whose accuracy halves, and how many of the seeds do (n/a: none does).",
              "", "| variant | status | hidden from below | hidden from above | output from below | output from above |",
              "|---|---|---|---|---|---|"]
        for v in rep["variants"]:
            hp = v.get("half_point")
            if hp:
                L.append(f"| {v['name']} | {v['status']} | " + " | ".join(
                    _half(hp[l][w]) for l in ("hidden_post", "output_post") for w in ("below", "above")) + " |")
    L += ["", "## Pairwise tests on final test accuracy",
          "Welch = unpaired unequal-variance t-test; paired = t-test on per-seed "
          "differences (valid because variants share seeds, which the paper's design implies). Holm-corrected "
          "within each family over all pairs. d = Cohen's d (pooled std). Diverged variants are left out "
          "(all rows here have status complete).", "",
          "| A | B | A-B (pp) | Welch t | Welch p | Welch p (Holm) | paired t | paired p | paired p (Holm) | d |",
          "|" + "---|" * 10]
    for r in rep["pairs"]:
        w, pr = r["welch"], r["paired"] or {}
        L.append(f"| {r['a']} | {r['b']} | {r['diff_pct']:+.2f} | {_f(w['t'])} | {_p(w['p'])} | {_p(w['p_holm'])} | "
                 f"{_f(pr.get('t'))} | {_p(pr.get('p'))} | {_p(pr.get('p_holm'))} | {_f(r['cohens_d'])} |")
    L += ["", "## Against the published numbers (paper: 20 seeds, raw pixels, 5,000 or 50,000 epochs)",
          "Only a run with the paper's protocol exactly (its epochs, lr 1e-3, 128 hidden units, all of MNIST, raw "
          "pixels, at least 20 seeds) is a reproduction: see 'comparable', which names every field that differs. "
          "For those, Welch's t-test of the run's seeds against the published mean, std and n = 20. "
          "Diverged variants are left out.", "",
          "| variant | status | paper version | paper mean +/- std | paper epochs | run mean +/- std | run epochs / "
          "seeds / preprocess | inside paper mean +/- 2 std | Welch vs paper t / p | comparable |", "|" + "---|" * 10]
    for r in rep["published"]:
        p, w = r["run_protocol"], r["welch_vs_paper"]
        inside = "n/a (no std)" if r["inside_2std"] is None else ("yes" if r["inside_2std"] else "no")
        comparable = "yes" if r["comparable"] else f"no (short run: {'; '.join(r['differences'])})"
        L.append(f"| {r['name']} | complete | {r['version']} | {r['paper_mean']:.2f} +/- {_f(r['paper_std'])} | "
                 f"{r['paper_epochs']} | {r['run_mean']:.2f} +/- {r['run_std']:.2f} | {p['epochs']} / {p['seeds']} / "
                 f"{p['preprocess']} | {inside} | {_f(w['t']) + ' / ' + _p(w['p']) if w else 'n/a'} | {comparable} |")
    L += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(L) + "\n"


def latex(rep: dict) -> str:
    """The per-variant accuracy table as a LaTeX tabular."""
    L = [r"\begin{tabular}{llrrrrl}", r"\hline",
         r"Model & Status & Epochs & Seeds & Mean (\%) & Std & 95\% CI \\", r"\hline"]
    for v in rep["variants"]:
        t, pct = v["test_acc"], runs.pct
        L.append(f"{v['name'].replace('_', chr(92) + '_')} & {v['status']} & {v['protocol']['epochs']} & {t['n']} & "
                 f"{pct(t['mean'])} & {pct(t['std'])} & [{pct(t['ci95'][0])}, {pct(t['ci95'][1])}] \\\\")
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
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as e:
        print(f"error: {runs.error_text(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
