"""The findings ledger's rows that need `analyze`: the geometry against a known truth (synthetic Gaussians), the
input-noise and outlier probes, and the author's own dead-unit counts and clamp half points against his notes.
Rules and verdicts as in distnet.analysis.findings."""
from __future__ import annotations

import math

import numpy as np

from distnet.analysis import geometry, significance
from distnet.analysis.findings import (ALPHA, ANALYZE, BY_SIGN, CLAMP_TOLERANCE, GAUSSIANS, TRAIN_MAIN, Folder, row,
                                       _p)
from distnet.nn import models

NOISE_SIGMA = 0.1     # "a little" input noise: 0.1 of the inputs' std (a size analyze's noise probe runs)


def _spec(v: dict):
    return models.spec_of(v.get("variant", v["name"]))


def distance_coded(v: dict) -> bool:
    """The output layer is forced to a distance code (small unit c = class c): the -Neg families."""
    s = _spec(v)
    return s is not None and s.neg


def intensity_coded(v: dict) -> bool:
    """The output layer is forced to an intensity code: ReLU2, Abs2 (and their -Bias twins)."""
    s = _spec(v)
    return s is not None and s.out_act is not None and not s.neg


def _ci(d: dict, nd=3) -> str:
    lo, hi = d["ci95"]
    return f"{d['mean']:.{nd}f} [{lo:.{nd}f}, {hi:.{nd}f}]" if lo is not None else f"{d['mean']:.{nd}f}"


def _geometry(f: Folder):
    """(variants with a geometry row, the reference) or None."""
    rows = [v for v in f.rows.values() if "geometry" in v]
    ref = f.rep.get("geometry_reference")
    return (rows, ref) if rows and ref else None


def untrained(v: dict, key: str) -> float | None:
    """The variant's own untrained (epoch-0) network's mean score: scored with its prototypes, else the first point
    of its geometry along training."""
    d = (v.get("geometry_untrained") or v.get("geometry_start") or {}).get(key)
    return None if d is None else d["mean"]


def _above(cells) -> tuple[str, int]:
    """(verdict, how many above) of (summary with a 95% interval, line) pairs: supported when every interval lies
    above its line, contradicted when every one reaches no higher than it, else inconclusive."""
    cis = [((d.get("ci95") or [None, None]), line) for d, line in cells]
    above = sum(lo is not None and lo > x for (lo, _), x in cis)
    verdict = ("supported" if above == len(cis) else
               "contradicted" if all(hi is not None and hi <= x for (_, hi), x in cis) else "inconclusive")
    return verdict, above


def axes(f: Folder) -> dict:
    claim = "trained first-layer units align with the true principal axes"
    src = "companion paper (known answer)"
    rule = ("supported if every variant's 95% interval of matched |cos| lies above both the untrained network and "
            "chance + 2 std; contradicted if every variant's interval stays at or below that line")
    g = _geometry(f)
    if g is None:
        return row(claim, src, "not testable here", "needs a folder with a known truth, analysed", rule, GAUSSIANS)
    rows, ref = g

    def line(v):   # chance at the variant's own width, and its own untrained network
        ch = geometry.chance_at(ref, v["protocol"]["hidden"])
        base = untrained(v, "alignment")
        return max(ch["mean"] + 2 * ch["std"], -math.inf if base is None else base)
    verdict, above = _above([(v["geometry"]["alignment"], line(v)) for v in rows])
    best = max(rows, key=lambda v: v["geometry"]["alignment"]["mean"])
    ch, base = geometry.chance_at(ref, best["protocol"]["hidden"]), untrained(best, "alignment")
    ev = (f"{above} of {len(rows)} above the line; best {best['name']} {_ci(best['geometry']['alignment'])}, its "
          f"untrained {'n/a' if base is None else f'{base:.3f}'}, chance at its width {ch['mean']:.3f} +/- "
          f"{ch['std']:.3f}")
    return row(claim, src, verdict, ev, rule)


def through_means(f: Folder) -> dict:
    claim, src = "first-layer hyperplanes pass through class means", "companion paper (known answer)"
    rule = ("supported if every variant's 95% interval of the share of units through a class mean lies above the "
            "untrained network's share; contradicted if every interval reaches no higher")
    g = _geometry(f)
    rows = [v for v in (g[0] if g else []) if untrained(v, "pass_fraction") is not None]
    if not rows:
        return row(claim, src, "not testable here", "needs a folder with a known truth, analysed", rule, GAUSSIANS)
    verdict, above = _above([(v["geometry"]["pass_fraction"], untrained(v, "pass_fraction")) for v in rows])
    best = max(rows, key=lambda v: v["geometry"]["pass_fraction"]["mean"])
    return row(claim, src, verdict, f"{above} of {len(rows)} above their untrained share; best {best['name']} "
               f"{_ci(best['geometry']['pass_fraction'])}, its untrained {untrained(best, 'pass_fraction'):.3f}", rule)


def prototypes_near_means(f: Folder) -> dict:
    claim = "distance-coded outputs put their prototypes near the true class means"
    src = "the paper's distance reading (known answer)"
    rule = ("supported if every distance-coded variant's 95% interval of prototype error (Mahalanobis units) lies below "
            "the data mean's error; contradicted if any lies above it")
    g = _geometry(f)
    rows = [v for v in (g[0] if g else []) if distance_coded(v) and v["geometry"].get("prototype_error")]
    if not rows:
        return row(claim, src, "not testable here", "needs distance-coded variants on a folder with a known truth, "
                   "analysed", rule, GAUSSIANS)
    line = g[1]["data_mean_error"]
    cis = [v["geometry"]["prototype_error"]["ci95"] for v in rows]
    verdict = ("contradicted" if any(lo is not None and lo > line for lo, _ in cis) else
               "supported" if all(hi is not None and hi < line for _, hi in cis) else "inconclusive")
    others = [v for v in g[0] if intensity_coded(v) and v["geometry"].get("prototype_error")]
    ev = "; ".join(f"{v['name']} {_ci(v['geometry']['prototype_error'], 2)}" for v in rows)
    if others:
        ev += "; intensity-coded: " + "; ".join(f"{v['name']} {v['geometry']['prototype_error']['mean']:.2f}"
                                                for v in others)
    return row(claim, src, verdict, f"{ev}; data mean {line:.2f}", rule)


def _lost(v: dict) -> np.ndarray | None:
    """Per seed, the share of its clean test accuracy lost to input noise of NOISE_SIGMA x the inputs' std."""
    n = v.get("noise")
    if not n or NOISE_SIGMA not in n["scales"]:
        return None
    acc = np.asarray(n["accuracy"], np.float64)
    k = n["scales"].index(NOISE_SIGMA)
    return (acc[:, 0] - acc[:, k]) / np.maximum(acc[:, 0], 1e-12)


def noise(f: Folder) -> dict:
    claim = "small input noise costs distance-coded outputs less than intensity-coded ones"
    src = "the practitioner's perturbation check"
    rule = (f"Welch's t-test on the share of clean accuracy lost at noise {NOISE_SIGMA} x the inputs' std, seeds of "
            f"the -Neg variants against those of ReLU2/Abs2: supported if less at p < {ALPHA}, contradicted if more")
    groups = [[x for v in f.rows.values() if pick(v) and (x := _lost(v)) is not None] for pick in
              (distance_coded, intensity_coded)]
    if not all(groups):
        return row(claim, src, "not testable here", "needs distance- and intensity-coded variants, analysed", rule,
                   f"{TRAIN_MAIN} && {ANALYZE}")
    a, b = np.concatenate(groups[0]), np.concatenate(groups[1])
    w = significance.welch(a, b)
    x = 0 if w["p"] is None or w["p"] >= ALPHA else (1 if a.mean() < b.mean() else -1)
    return row(claim, src, BY_SIGN[x],
               f"lost {100 * a.mean():.2f}% (distance, n {len(a)}) vs {100 * b.mean():.2f}% (intensity, n {len(b)}); "
               f"Welch p {_p(w['p'])}", rule)


def outliers(f: Folder) -> dict:
    claim = "the distance reading tells outliers apart better than the maximum softmax probability"
    src = "the seed's outlier check"
    rule = ("per distance-coded variant and outlier set, AUROC intervals (95%) that do not overlap count as a win "
            "for one score: supported if the reading wins somewhere and never loses; contradicted if the reverse")
    cells = [(v["name"], s, sc) for v in f.rows.values() if distance_coded(v) and "ood" in v
             for s, sc in v["ood"]["sets"].items()]
    if not cells:
        return row(claim, src, "not testable here", "needs distance-coded variants, analysed", rule,
                   f"{TRAIN_MAIN} && {ANALYZE}")
    win = [f"{n} {s}" for n, s, sc in cells if sc["reading"]["ci95"][0] > sc["msp"]["ci95"][1]]
    lose = [f"{n} {s}" for n, s, sc in cells if sc["msp"]["ci95"][0] > sc["reading"]["ci95"][1]]
    verdict = ("supported" if win and not lose else "contradicted" if lose and not win else "inconclusive")
    ev = "; ".join(f"{n} {s}: reading {sc['reading']['mean']:.3f} vs msp {sc['msp']['mean']:.3f}" for n, s, sc in cells)
    return row(claim, src, verdict, f"{len(win)} wins, {len(lose)} losses of {len(cells)}: {ev}", rule)


def _comparable(f: Folder) -> set:
    return {r["name"] for r in f.rep.get("published", []) if r["comparable"]}


def _agrees(ours: float, ours_std, n: int, notes: float, notes_std) -> bool:
    """Within 2 standard errors of the difference (ours over n seeds, the notes over 20 runs) plus half a unit."""
    se = math.sqrt((ours_std or 0.0) ** 2 / max(n, 1) + (notes_std or 0.0) ** 2 / 20)
    return abs(ours - notes) <= 2 * se + 0.5


def dead_units(f: Folder, kind: str) -> dict:
    claim = ("dead units per layer as the author's notes count them" if kind == "dead" else
             "rarely active units (dead excluded) as the author's notes count them")
    src = "author's notes (released scripts' definitions)"
    rule = "supported if every (variant, layer) agrees within 2 standard errors + 0.5 unit; contradicted if any does not"
    rows = [r for r in (f.rep.get("author") or {}).get("activity", [])
            if r["notes"] and r["split"] == "train" and r["name"] in _comparable(f)]
    if not rows:
        return row(claim, src, "not testable here", "needs the paper's protocol (the notes' 20 runs), analysed", rule,
                   f"{TRAIN_MAIN} && {ANALYZE}")
    off = []
    for r in rows:
        n = r["notes"]
        ours = r["dead"]["mean"] if kind == "dead" else r["rare"]["mean"] - r["dead"]["mean"]
        std = r["dead"]["std"] if kind == "dead" else r["rare"]["std"]
        notes, notes_std = (n["dead"], n["dead_std"]) if kind == "dead" else (n["rare"], n["rare_std"])
        if not _agrees(ours, std, r["seeds"], notes, notes_std):
            off.append(f"{r['name']} {r['layer']} {ours:.2f} vs {notes:.2f}")
    return row(claim, src, "contradicted" if off else "supported",
               f"{len(rows) - len(off)} of {len(rows)} agree" + (f"; differ: {'; '.join(off)}" if off else ""), rule)


def clamp(f: Folder) -> dict:
    claim, src = "clamp half points (from below / above) as the author's notes give them", "author's notes"
    rule = f"supported if every half point is within {CLAMP_TOLERANCE:g} points of the range of the notes' value"
    rows = [r for r in (f.rep.get("author") or {}).get("clamp", []) if r["notes"] and r["name"] in _comparable(f)]
    if not rows:
        return row(claim, src, "not testable here", "needs the paper's protocol, analysed", rule,
                   f"{TRAIN_MAIN} && {ANALYZE}")
    cells = [(r["name"], w, r["steps"][-1][w], r["notes"][w]) for r in rows for w in ("below", "above")]
    off = [f"{n} {w} {o:.1f} vs {p}" for n, w, o, p in cells if o is None or abs(o - p) > CLAMP_TOLERANCE]
    worst = max((abs(o - p) for _, _, o, p in cells if o is not None), default=float("nan"))
    return row(claim, src, "contradicted" if off else "supported",
               f"{len(cells) - len(off)} of {len(cells)} within; largest gap {worst:.1f} points"
               + (f"; beyond: {'; '.join(off)}" if off else ""), rule)
