"""The variants of one or more run folders side by side, as plain data: per-variant rows, every pairwise test,
and every published version of each variant's accuracy (distnet.analysis.render turns it into tables)."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from distnet.lanes import Lanes
from distnet.analysis import author_stats, ledger, significance, unfinished
from distnet.analysis.published import (HIDDEN, LR, N_TEST, N_TRAIN, NOTES_ACTIVITY, NOTES_CLAMP, PAPER_T,
                                      PREPROCESS, PUBLISHED, SEEDS)
from distnet.nn import models
from distnet.run import folder, summary

PLATEAU_TOL = 0.01   # training loss "stops improving" once within 1% of its total decrease from the minimum


def gather(dirs) -> list[dict]:
    """One record per finished variant across the folders, and per sweep point of a sweep (named "ReLU lr=0.001"):
    name, status, protocol (epochs as trained, from the summary; train/test sizes as loaded, from the data record;
    the point's lr, init_scale and weight_decay), metrics and statistics of the lanes that finished (a lane that went
    NaN/Inf is left out, and counted in "diverged_lanes"), and those lanes' seed indices. A variant name seen in two
    folders gets its folder's name appended. Unfinished variants are left out (distnet.analysis.unfinished names
    them)."""
    out, seen = [], {}
    for d in dirs:
        for v, rec in folder.load(d).items():
            if rec["summary"] is None or rec["metrics"] is None:
                continue
            seen[v] = seen.get(v, 0) + 1
            c, info = rec["config"]["config"], rec["config"]["data"]
            lanes, stats = Lanes.from_record(rec["config"]), folder.load_stats(rec["dir"])
            diverged = lanes.diverged(rec["metrics"])
            for i, point in enumerate(lanes.points):
                keep = lanes.alive_of_point(i, diverged)
                status = rec["summary"]["status"] if keep else "diverged"    # every seed of the point did
                if status == "diverged":                                    # show what it recorded
                    keep = list(lanes.of_point(i))
                name = f"{v} {lanes.point_label(i)}" if lanes.is_sweep else v
                out.append({"name": name if seen[v] == 1 else f"{name} [{Path(d).name}]", "variant": v,
                            "status": status, "point": point, "seed_index": [lanes.seed(j) for j in keep],
                            "diverged_lanes": len(lanes.diverged_of_point(i, diverged)),
                            "protocol": {"epochs": rec["summary"]["epochs"], "seeds": c["num_seeds"],
                                         "seed": c["seed"], "data": c["data"]["name"],
                                         "preprocess": c["data"]["preprocess"], "n_train": info["n_train"],
                                         "n_test": info["n_test"], "hidden": models.width(v, c["hidden"]), **point},
                            "metrics": {k: (a[keep] if np.ndim(a) == 2 else a) for k, a in rec["metrics"].items()
                                        if k != "diverged_epoch"},
                            "stats": point_stats(stats, rec["summary"], i, lanes.n_points), "dir": str(rec["dir"])})
    return out


def point_stats(stats: dict | None, variant_summary: dict, i: int, n_points: int) -> dict | None:
    """The statistics of sweep point i: analyze's per-point entry, else the summary statistics training recorded
    for it; a single point's are the variant's own."""
    if n_points == 1:
        return stats
    if stats and "points" in stats:
        return stats["points"][i]
    point = variant_summary.get("points", [{}] * n_points)[i]
    return {"summary": point["stats"]} if "stats" in point else None


def finished(records) -> list[dict]:
    """The records that did not diverge: the only ones tested against each other or the paper."""
    return [r for r in records if r["status"] != "diverged"]


def protocol_differences(p: dict, paper_epochs: int) -> list[str]:
    """How a run's protocol differs from the paper's ([] = the paper's protocol exactly)."""
    want = {"epochs": (p["epochs"] == paper_epochs, paper_epochs), "lr": (p["lr"] == LR, LR),
            "init_scale": (p.get("init_scale", 1.0) == 1.0, 1.0), "weight_decay": (p.get("weight_decay", 0.0) == 0, 0.0),
            "hidden": (p["hidden"] == HIDDEN, HIDDEN), "n_train": (p["n_train"] == N_TRAIN, N_TRAIN),
            "n_test": (p["n_test"] == N_TEST, N_TEST), "data": (p["data"] == "mnist", "mnist"),
            "preprocess": (p["preprocess"] == PREPROCESS, PREPROCESS), "seeds": (p["seeds"] >= SEEDS, SEEDS)}
    return [f"{k} {p.get(k)} vs {paper}" for k, (same, paper) in want.items() if not same]


def plateau_epoch(epoch_E, loss_SxE, tol=PLATEAU_TOL) -> int | None:
    """First epoch at which the seed-mean training loss is within `tol` of its total decrease from its minimum.
    The mean at each epoch is over the seeds finite there, and epochs where none is (every seed diverged) are
    left out; None when fewer than two epochs have a finite loss (no decrease to measure)."""
    loss = np.asarray(loss_SxE, np.float64)
    seen = np.isfinite(loss).any(axis=0)
    if seen.sum() < 2:
        return None
    loss_E = np.nanmean(np.where(np.isfinite(loss), loss, np.nan)[:, seen], axis=0)
    lo = loss_E.min()
    return int(np.asarray(epoch_E)[seen][np.argmax(loss_E - lo <= tol * max(loss_E[0] - lo, 1e-12))])


def half_summary(half_S) -> dict:
    """Mean half point over the seeds that halve, and how many do (a plain mean hides those that never do)."""
    h = np.asarray(half_S, np.float64)   # None (JSON null) -> NaN: the seed never halves
    k = int(np.isfinite(h).sum())
    return {"mean": float(np.nanmean(h)) if k else None, "halved": k, "seeds": len(h)}


def _seed_mean(x):
    return float(np.mean(x)) if x is not None and len(np.atleast_1d(x)) else None


def variant_row(r) -> dict:
    """Per variant: accuracy statistics, training accuracy, plateau epoch, dead units, distance share, probes."""
    m, s = r["metrics"], r["stats"] or {}
    row = {"name": r["name"], "variant": r["variant"], "protocol": r["protocol"], "status": r["status"],
           "diverged_lanes": r.get("diverged_lanes", 0),
           "test_acc": summary.describe(m["test_acc"][:, -1], summary.ACCURACY),
           "test_acc_per_seed": m["test_acc"][:, -1].tolist(),
           "train_acc": summary.describe(m["train_acc"][:, -1], summary.ACCURACY),
           "plateau_epoch": plateau_epoch(m["epoch"], m["train_loss"])}
    summ = s.get("summary")
    if summ:
        row["activity"] = {split: {layer: {k: (v if k == "units" else _seed_mean(v)) for k, v in c.items()}
                                   for layer, c in per.items()} for split, per in summ["activity"].items()}
        row["distance_share"] = _seed_mean(summ["output_geometry"]["distance_share"])
        row["intensity_share"] = _seed_mean(summ["output_geometry"]["intensity_share"])
    if "perturbation" in s:
        row["half_point"] = {layer: {w: half_summary(p[f"half_{w}"]) for w in ("below", "above")}
                             for layer, p in s["perturbation"].items()}
    for key in ("geometry", "geometry_untrained"):
        if key in s:
            row[key] = s[key]["summary"]
    if s.get("geometry_track"):     # the untrained network of a sweep point: its first checkpoint
        row["geometry_start"] = {k: v[0] for k, v in s["geometry_track"].items() if k != "epochs"}
    if "input_prototypes" in s:
        ip = s["input_prototypes"]
        row["input_prototypes"] = {"definition": ip["definition"], "own_class_rate": ip["own_class_rate"],
                                   "own_class": summary.describe(ip["own_class_rate"], (0.0, 1.0)),
                                   "own_class_by_class": np.mean(ip["own_class"], axis=0).tolist()}
    for key, rate in (("dataset_prototypes", "own_label_rate"), ("prior_prototypes", "own_class_rate")):
        if key in s:                  # share of class c's dataset / image-prior prototypes carrying label c
            row[key] = {"definition": s[key]["definition"], "own_rate": summary.describe(s[key][rate], (0.0, 1.0)),
                        **({"moved": float(np.mean(s[key]["moved"]))} if "moved" in s[key] else {})}
    if "ood" in s:
        row["ood"] = {"reading_kind": s["ood"]["reading_kind"],
                      "sets": {name: {k: v["summary"] for k, v in per.items()} for name, per in s["ood"]["sets"].items()}}
    if "noise" in s:
        row["noise"] = {"scales": list(s["noise"]["scale_of_inputs_std"]), "accuracy": s["noise"]["accuracy"]}
    if "known_answers_s" in s:
        row["known_answers_s"] = s["known_answers_s"]
    return row


# protocol fields two variants must share for a test between them to compare like with like (the seed count and
# the first seed may differ: Welch's test takes any two samples, and the paired test is only run on shared seeds)
LIKE_FOR_LIKE = ("epochs", "data", "preprocess", "n_train", "n_test", "lr", "hidden")


def protocol_mismatch(a: dict, b: dict) -> list[str]:
    """The protocol fields in which two variants' runs differ, as "epochs 20 vs 200"."""
    return [f"{k} {a[k]} vs {b[k]}" for k in LIKE_FOR_LIKE if a.get(k) != b.get(k)]


def untested_pairs(records) -> list[dict]:
    """The pairs `pair_rows` leaves out because their protocols differ, with the fields that differ."""
    return [{"a": a["name"], "b": b["name"], "differs": d} for a, b in itertools.combinations(records, 2)
            if (d := protocol_mismatch(a["protocol"], b["protocol"]))]


def pair_rows(records) -> list[dict]:
    """Every pair run under the same protocol (see untested_pairs for the others): Welch's t-test, the paired
    t-test when they share seeds, Cohen's d; Holm within each family. A test the seeds leave no spread for is
    not run: its entry says why ("no_test", significance.no_test) and is left out of the Holm correction."""
    rows = []
    for a, b in itertools.combinations(records, 2):
        if protocol_mismatch(a["protocol"], b["protocol"]) or a.get("point") != b.get("point"):
            continue
        x, y = a["metrics"]["test_acc"][:, -1], b["metrics"]["test_acc"][:, -1]
        shared = (a["protocol"]["seed"], a.get("seed_index", len(x))) == (b["protocol"]["seed"],
                                                                           b.get("seed_index", len(y))) and len(x) > 1
        rows.append({"a": a["name"], "b": b["name"], "diff_pct": 100 * float(x.mean() - y.mean()),
                     "welch": significance.welch(x, y), "paired": significance.paired(x, y) if shared else None,
                     "cohens_d": significance.cohens_d(x, y)})
    for family in ("welch", "paired"):   # Holm over the tests run (a pair whose seeds leave no spread has none)
        idx = [i for i, r in enumerate(rows) if r[family] and r[family]["p"] is not None]
        for i, adj in zip(idx, significance.holm([rows[i][family]["p"] for i in idx])):
            rows[i][family]["p_holm"] = float(adj)
        for r in rows:
            if r[family] and r[family]["p"] is None:
                r[family]["p_holm"] = None
    return rows


def paper_t_rows(n: int = SEEDS) -> list[dict]:
    """The paper's own t-tests recomputed from its published means and stds (an unpaired two-sample test, n = 20
    each): the published t, ours with the stds read as ddof 0 (which reproduces it) and as ddof 1, and the range
    the ddof-0 t spans when every published mean and std moves within its rounding (+-0.005)."""
    rows = []
    for (va, vb), (published, a, b) in PAPER_T.items():
        t = lambda a, b, ddof0=True: significance.two_sample_from_stats(*a, *b, n=n, ddof0=ddof0)["t"]
        e = (-0.005, 0.005)
        corners = [t((a[0] + da, a[1] + sa), (b[0] + db, b[1] + sb)) for da in e for sa in e for db in e for sb in e]
        rows.append({"a": va, "b": vb, "published_t": published, "t_ddof0": t(a, b), "t_ddof1": t(a, b, False),
                     "t_ddof0_rounding_range": [min(corners), max(corners)]})
    return rows


def _nanmean(x) -> float | None:
    a = np.asarray([np.nan if v is None else v for v in x], np.float64)
    return float(np.nanmean(a)) if np.isfinite(a).any() else None


def author_rows(records) -> dict:
    """The author's statistics (stats.json "author") against the notes: dead/rare counts per split and layer
    (mean +/- std over seeds, ddof 1) and the clamp half points (% of the range) at every definition step, the
    last being the script's."""
    activity, clamp = [], []
    for r in records:
        a = (r["stats"] or {}).get("author")
        if not a:
            continue
        for split, per in a["activity"].items():
            for layer, c in per.items():
                dead, rare = (author_stats.summarize_counts(c[k], c["units"]) for k in ("dead", "rare"))
                notes = NOTES_ACTIVITY.get((r["variant"], layer))
                activity.append({"name": r["name"], "split": split, "layer": layer, "units": c["units"],
                                 "dead": dead, "rare": rare, "seeds": len(c["dead"]),
                                 "notes": None if notes is None else dict(zip(("dead", "dead_std", "rare", "rare_std"),
                                                                              notes))})
        steps = [{"definition": s["definition"], "below": _pct(_nanmean(s["below"])), "above": _pct(_nanmean(s["above"])),
                  "halved": [sum(v is not None for v in s[w]) for w in ("below", "above")], "seeds": len(s["below"])}
                 for s in a["clamp_steps"]]
        last = a["clamp_steps"][-1]
        notes = NOTES_CLAMP.get(r["variant"])
        clamp.append({"name": r["name"], "steps": steps,
                      "mean_curve": {w: _pct(last["mean_curve"][w]) for w in ("below", "above")},
                      "notes": None if notes is None else dict(zip(("below", "above"), notes))})
    return {"activity": activity, "clamp": clamp}


def _pct(x):
    return None if x is None else 100 * x


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
                test = significance.welch_from_stats(acc.mean(), run_std, len(acc), mean, std, SEEDS)
            rows.append({"name": r["name"], "version": version, "paper_mean": mean, "paper_std": std,
                         "paper_epochs": epochs, "run_mean": float(acc.mean()), "run_std": run_std,
                         "inside_2std": inside, "run_protocol": r["protocol"], "comparable": not differs,
                         "differences": differs, "welch_vs_paper": test})
    return rows


def build(dirs) -> tuple[dict, list[dict]]:
    """(the whole comparison as plain data, what report.json holds; the gathered variant records)."""
    records, stopped = gather(dirs), unfinished.listed(dirs)
    if not records:
        also = f" (unfinished: {', '.join(map(unfinished.text, stopped))})" if stopped else ""
        raise ValueError(f"no finished variant in {', '.join(map(str, dirs))}{also}; train one with train.py first, "
                         f"or rerun its train.py command to finish it")
    refs = [r for r in (folder.load_reference(d) for d in dirs) if r is not None]
    return from_records(records, dirs, refs[0] if refs else None, stopped), records


def from_records(records, dirs=(), reference: dict | None = None, stopped=()) -> dict:
    """The comparison of gathered records (see gather), findings ledger included."""
    good = finished(records)
    rep = {"dirs": [str(d) for d in dirs], "variants": [variant_row(r) for r in records],
           "geometry_reference": reference, "sweep": sweep_table(records),
           "diverged": [r["name"] for r in records if r["status"] == "diverged"], "unfinished": list(stopped),
           "pairs": pair_rows(good), "untested_pairs": untested_pairs(good), "paper_t": paper_t_rows(),
           "published": published_rows(good), "author": author_rows(good)}
    return {"findings": ledger.build(rep), **rep}


def sweep_table(records) -> dict | None:
    """The swept values' table: per variant and point, the final test accuracy over the seeds that finished
    (mean, std, 95% interval: summary.describe), the seeds that diverged; None when the records sweep nothing."""
    points = []
    for r in records:
        if r.get("point") is not None and r["point"] not in points:
            points.append(r["point"])
    axes = summary.swept(points) if len(points) > 1 else []
    if not axes:
        return None
    rows = {}
    for r in records:
        if r.get("point") is not None:
            rows.setdefault(r["variant"], {})[summary.point_label(r["point"], axes)] = {
                **summary.describe(r["metrics"]["test_acc"][:, -1], summary.ACCURACY),
                "diverged": r.get("diverged_lanes", 0), "status": r["status"], "point": r["point"]}
    return {"axes": axes, "columns": [summary.point_label(p, axes) for p in points], "rows": rows}
