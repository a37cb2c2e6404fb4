"""The report's sections on the analyses with known answers (python -m distnet.analysis.analyze): the first
layers, prototypes and centres against a synthetic dataset's truth, the input-space prototypes, and how well the
outputs tell test inputs from outliers. Each section is one function returning its markdown lines (an empty list
when no variant has the analysis); distnet.analysis.render puts them in report.md. Also the number formats every
section shares."""
from __future__ import annotations

import math


def fmt_num(x, fmt="{:.2f}"):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def fmt_p(x):
    return "n/a" if x is None or math.isnan(x) else (f"{x:.2e}" if x < 1e-3 else f"{x:.3f}")


def fmt_ci(d, pct=False, nd=3) -> str:
    """A describe() dict as "mean [lo, hi]" (x100 when pct); "n/a" when missing."""
    if not d or d.get("mean") is None:
        return "n/a"
    f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.{nd}f}")
    ci = d.get("ci95")
    return f"{f(d['mean'])} [{f(ci[0])}, {f(ci[1])}]" if ci and ci[0] is not None and ci[1] is not None else f(d["mean"])


GEOMETRY_COLUMNS = (("test_acc", "test acc %", True), ("pass_fraction", "units through a class mean %", True),
                    ("median_min_abs_z", "median min abs z", False),
                    ("classes_passed", "classes with a unit through their mean %", True),
                    ("alignment", "matched abs cos", False), ("axis_alignment", "axis alignment", False),
                    ("prototype_error", "prototype error (Mahalanobis)", False),
                    ("prototype_own_class", "prototype classified as its class %", True),
                    ("centre_offset", "centre offset (median)", False),
                    ("centre_on_own_mean", "centre reads own mean %", True))


def geometry_section(rep: dict) -> list[str]:
    """The variants' first layers, prototypes and centres against the truth, between the analytic network
    (first row) and an untrained one (last row)."""
    rows = [(v["name"], v["geometry"]) for v in rep["variants"] if "geometry" in v]
    if not rows:
        return []
    ref = rep.get("geometry_reference")
    untrained = [v for v in rep["variants"] if "geometry_untrained" in v]
    # the untrained row: an OffsetL2 variant's epoch-0 network when there is one, so its centres are scored too
    un = next((v for v in untrained if "centre_offset" in v["geometry_untrained"]), untrained[0] if untrained else None)
    lines = ["## Geometry against the known truth (synthetic Gaussians)"]
    if ref:
        ch = ref["chance_alignment"]
        lines += [f"D = {ref['dim']}, {ref['classes']} classes, {ref['hidden']} hidden units. Mean over seeds [95% t "
                  f"interval]. A unit passes through a class mean when that mean lies within 0.1 class std (along "
                  f"the unit's normal) of its hyperplane. Chance (random directions): matched abs cos "
                  f"{ch['mean']:.3f} (+/- {ch['std']:.3f}), axis alignment {ch['axis_mean']:.3f} "
                  f"(+/- {ch['axis_std']:.3f}); the training data's mean sits {ref['data_mean_error']:.2f} "
                  f"Mahalanobis units from the class means on average (a prototype error to beat)."]
        by_width = ref.get("chance_by_width") or {}
        if len(by_width) > 1:     # NAME@W variants: chance depends on the width
            lines += ["Chance by width (matched abs cos / axis alignment): " + "; ".join(
                f"{w}: {c['mean']:.3f} / {c['axis_mean']:.3f}" for w, c in sorted(by_width.items(), key=lambda i: int(i[0])))
                + f" (the line above is at {ref['hidden']} units)."]
    lines += ["", "| network | " + " | ".join(h for _, h, _ in GEOMETRY_COLUMNS) + " |",
              "|" + "---|" * (1 + len(GEOMETRY_COLUMNS))]
    table = ([("analytic (Mahalanobis, from the truth)", ref["analytic"]["summary"])] if ref else []) + rows
    if un:
        table.append((f"untrained ({un['name']}, epoch 0)", un["geometry_untrained"]))
    for name, g in table:
        lines.append(f"| {name} | " + " | ".join(fmt_ci(g.get(k), pct) for k, _, pct in GEOMETRY_COLUMNS) + " |")
    return lines


def input_prototypes_section(rep: dict) -> list[str]:
    rows = [v for v in rep["variants"] if "input_prototypes" in v]
    if not rows:
        return []
    lines = ["## Input-space prototypes",
             "The input the network places at its class-c prototype, by a regularised search in the training data's "
             "box; how often the network classifies it as c (mean over seeds [95% t interval], and per class).", "",
             "| variant | definition | classified as its class % | per class % |", "|---|---|---|---|"]
    for v in rows:
        ip = v["input_prototypes"]
        per = " ".join(f"{100 * x:.0f}" for x in ip["own_class_by_class"])
        lines.append(f"| {v['name']} | {ip['definition']} | {fmt_ci(ip['own_class'], True)} | {per} |")
    return lines + prototype_methods_lines(rep)


def prototype_methods_lines(rep: dict) -> list[str]:
    """One line per variant: how often its dataset prototypes (and image-prior prototypes) carry their class."""
    rows = [v for v in rep["variants"] if "dataset_prototypes" in v]
    if not rows:
        return []
    lines = ["", "Two more methods (figures prototypes_by_method, hidden_unit_images): the training images each "
             "network reads most strongly as class c (the smallest unit c for the -Neg families, the largest margin "
             "of logit c over the others for the rest), and the search above started at the class-mean image with "
             "total-variation and principal-subspace priors. Share carrying class c's own label, mean over seeds "
             "[95% t interval]:", ""]
    for v in rows:
        d, p = v["dataset_prototypes"], v.get("prior_prototypes")
        prior = (f"; image-prior prototypes classified as their class {fmt_ci(p['own_rate'], True)}%, "
                 f"{p['moved']:.2f} pixel scales from the class mean" if p else "")
        lines.append(f"- {v['name']}: dataset prototypes with their class's label {fmt_ci(d['own_rate'], True)}%"
                     f"{prior}.")
    return lines


def ood_section(rep: dict) -> list[str]:
    rows = [v for v in rep["variants"] if "ood" in v]
    if not rows:
        return []
    sets = list(rows[0]["ood"]["sets"])
    scores = list(rows[0]["ood"]["sets"][sets[0]])
    lines = ["## Outliers: AUROC of test inputs against outlier sets",
             "Higher = the score ranks in-distribution test inputs above outliers (0.5 = chance). msp: maximum "
             "softmax probability; reading: minus the smallest output unit for distance-coded variants (distance to "
             "the nearest prototype or centre), the largest unit for intensity-coded ones. Mean over seeds "
             "[95% t interval].", "",
             "| variant | reading | " + " | ".join(f"{st} {sc}" for st in sets for sc in scores) + " |",
             "|" + "---|" * (2 + len(sets) * len(scores))]
    for v in rows:
        o = v["ood"]
        lines.append(f"| {v['name']} | {o['reading_kind']} | " + " | ".join(
            fmt_ci(o["sets"][st][sc]) for st in sets for sc in scores) + " |")
    timed = [v for v in rep["variants"] if "known_answers_s" in v]
    if timed:
        lines += ["", "Analysis time (s): " + "; ".join(
            f"{v['name']} " + ", ".join(f"{k} {t:.1f}" for k, t in v["known_answers_s"].items()) for v in timed) + "."]
    return lines
