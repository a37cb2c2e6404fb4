"""The author's statistics in report.md, by the released scripts' definitions, against his notes: in the body the
script's own definition only (train split), in the appendix every definition step and split."""
from __future__ import annotations

from distnet.analysis.render_known import fmt_num


def _notes_count(mean, std) -> str:
    return f"{mean:.2f}" + (f" +/- {std:.2f}" if std is not None else "")


def _notes_cells(r: dict) -> str:
    """The notes' dead and rarely active counts of an activity row, as two table cells."""
    n = r["notes"]
    return (f"{_notes_count(n['dead'], n['dead_std'])} | {_notes_count(n['rare'], n['rare_std'])} |" if n
            else "n/a | n/a |")


def author_section(rep: dict) -> list[str]:
    a = rep.get("author") or {}
    if not a.get("activity") and not a.get("clamp"):
        return []
    lines = ["## The author's statistics, by the released scripts' definitions, vs published",
             "distnet.analysis.author_stats states the definitions (analyze_dead_nodes.py, "
             "analyze_layer_perturbation.py). Published: the author's notes, 20 runs of the paper's protocol; a run "
             "with another protocol is not comparable number for number.", "",
             "Dead and rarely active units (rare: active on fewer than 1% of the split's inputs, dead included; "
             "mean +/- std over seeds, ddof 1):", "",
             "| variant | split | layer | units | dead | rarely active | rarely active % | vs published: dead | "
             "vs published: rarely active |", "|" + "---|" * 9]
    for r in a.get("activity", []):
        lines.append(f"| {r['name']} | {r['split']} | {r['layer']} | {r['units']} | "
                     f"{r['dead']['mean']:.2f} +/- {fmt_num(r['dead']['std'])} | "
                     f"{r['rare']['mean']:.2f} +/- {fmt_num(r['rare']['std'])} | {r['rare']['pct']:.2f} | "
                     + _notes_cells(r))
    lines += ["", "Layer clamp probe: where accuracy halves, % of the range counted from its bottom (mean over the "
              "seeds that halve; the script's definition in the last step, also on the seed-mean curve):", "",
              "| variant | definition | from below | from above | seeds halving (below, above) | "
              "vs published: below | vs published: above |", "|" + "---|" * 7]
    for r in a.get("clamp", []):
        n = r["notes"] or {}
        for i, st in enumerate(r["steps"]):
            last = i == len(r["steps"]) - 1
            pub = (f"{n['below']} | {n['above']} |" if n else "n/a | n/a |") if last else " | |"
            lines.append(f"| {r['name']} | {st['definition']} | {fmt_num(st['below'], '{:.1f}')} | "
                         f"{fmt_num(st['above'], '{:.1f}')} | {st['halved'][0]}, {st['halved'][1]} of {st['seeds']} | "
                         + pub)
        mc = r["mean_curve"]
        lines.append(f"| {r['name']} | the script's definition, on the seed-mean curve | {fmt_num(mc['below'], '{:.1f}')} | "
                     f"{fmt_num(mc['above'], '{:.1f}')} | | {n.get('below', 'n/a')} | {n.get('above', 'n/a')} |")
    return lines


def author_body(rep: dict) -> list[str]:
    """Dead and rarely active units (train split) and the clamp half points by the script's definition, against
    the notes: one definition per quantity."""
    a = rep.get("author") or {}
    if not a.get("activity") and not a.get("clamp"):
        return []
    lines = ["## The author's statistics against his notes",
             "By the released scripts' definitions (distnet.analysis.author_stats); the notes are 20 runs of the paper's "
             "protocol, so another protocol does not compare number for number. Train split; rare: active on fewer "
             "than 1% of inputs, dead included (the notes exclude dead units from their rare count). Mean +/- std "
             "over seeds. Other definitions: the appendix.", "",
             "| variant | layer | units | dead | rarely active | notes: dead | notes: rarely active |", "|" + "---|" * 7]
    for r in a.get("activity", []):
        if r["split"] != "train":
            continue
        lines.append(f"| {r['name']} | {r['layer']} | {r['units']} | {r['dead']['mean']:.2f} +/- "
                     f"{fmt_num(r['dead']['std'])} | {r['rare']['mean']:.2f} +/- {fmt_num(r['rare']['std'])} | "
                     + _notes_cells(r))
    if a.get("clamp"):
        lines += ["", "Clamp half points, % of the layer's range from its bottom (the script's definition; mean over "
                  "the seeds that halve):", "", "| variant | from below | from above | seeds halving | notes: below | "
                  "notes: above |", "|---|---|---|---|---|---|"]
        for r in a["clamp"]:
            st, n = r["steps"][-1], r["notes"] or {}
            lines.append(f"| {r['name']} | {fmt_num(st['below'], '{:.1f}')} | {fmt_num(st['above'], '{:.1f}')} | "
                         f"{st['halved'][0]}, {st['halved'][1]} of {st['seeds']} | {n.get('below', 'n/a')} | "
                         f"{n.get('above', 'n/a')} |")
    return lines
