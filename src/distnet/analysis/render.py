"""The comparison as people read it: report.md (tables of accuracy, units, probes, tests and the paper's
numbers, with the figures) and the accuracy table as LaTeX, from the plain data of distnet.analysis.compare.
Each markdown section is one function returning its lines."""
from __future__ import annotations

from pathlib import Path

from distnet.analysis import unfinished
from distnet.analysis import ledger
from distnet.analysis.render_author import author_body, author_section
from distnet.analysis.render_known import fmt_num, fmt_p, geometry_section, input_prototypes_section, ood_section
from distnet.run import summary


def fmt_half(h) -> str:
    return f"{fmt_num(h['mean'])} ({h['halved']}/{h['seeds']} seeds halve)"


def t_test_cells(test: dict | None) -> str:
    """A t-test's three cells (t, p, Holm-adjusted p): "n/a" each when it was not asked for, and its reason in
    the t cell when the seeds left it nothing to test (significance.no_test)."""
    if test and test.get("no_test"):
        return f"{test['no_test']}: no test | - | -"
    test = test or {}
    return f"{fmt_num(test.get('t'))} | {fmt_p(test.get('p'))} | {fmt_p(test.get('p_holm'))}"


def unfinished_lines(rep: dict) -> list[str]:
    """The variants left out because they have not finished, with how far each got."""
    if not rep.get("unfinished"):
        return []
    return ["**Unfinished**, left out of every table, test and figure (rerun the train.py command that wrote the "
            "folder to finish them): " + "; ".join(map(unfinished.text, rep["unfinished"])) + "."]


def accuracy_section(rep: dict) -> list[str]:
    lines = ["## Test accuracy (%, final epoch, over seeds)", "",
             f"| variant | status | epochs | seeds | preprocess | n_train | {summary.ACC_HEAD} | loss plateau epoch |",
             "|" + "---|" * 12]
    for v in rep["variants"]:
        p = v["protocol"]
        status = v["status"] + (f" ({v['diverged_lanes']} seed(s) diverged, left out)" if v.get("diverged_lanes")
                                 and v["status"] != "diverged" else "")
        lines.append(f"| {v['name']} | {status} | {p['epochs']} | {p['seeds']} | {p['preprocess']} | "
                     f"{p['n_train']} | {summary.acc_cells(v['test_acc'], v['train_acc'])} | "
                     f"{fmt_num(v['plateau_epoch'], '{}')} |")
    if rep["diverged"]:
        lines += ["", f"**Diverged** (NaN/Inf; left out of the tests and the paper comparison): "
                      f"{', '.join(rep['diverged'])}."]
    return lines


def units_section(rep: dict) -> list[str]:
    lines = ["## Dead and rarely active units (train split, mean count over seeds; rare counts include dead)", "",
             "| variant | status | hidden units | hidden dead | hidden <1% | hidden <5% | output units | output dead | "
             "output <1% | output <5% | distance-code share | intensity-code share |", "|" + "---|" * 12]
    for v in rep["variants"]:
        if "activity" not in v:
            why = "diverged: no statistics" if v["status"] == "diverged" else \
                "no statistics: run `python -m distnet.analysis.analyze`"
            lines.append(f"| {v['name']} | {v['status']} | {why} |" + " |" * 9)
            continue
        h, o = v["activity"]["train"]["hidden_post"], v["activity"]["train"]["output_post"]
        lines.append(f"| {v['name']} | {v['status']} | {h['units']} | {h['dead']:.1f} | {h['rare_1pct']:.1f} | "
                     f"{h['rare_5pct']:.1f} | {o['units']} | {o['dead']:.1f} | {o['rare_1pct']:.1f} | "
                     f"{o['rare_5pct']:.1f} | {v['distance_share']:.2f} | {v['intensity_share']:.2f} |")
    return lines


def probes_section(rep: dict) -> list[str]:
    analyzed = [v for v in rep["variants"] if "half_point" in v]
    missing = [v["name"] for v in rep["variants"] if "half_point" not in v and v["status"] != "diverged"]
    if not analyzed:
        return ["## Perturbation probes", f"Not analyzed yet ({', '.join(missing)}): run "
                "`python -m distnet.analysis.analyze DIR` for the probes."] if missing else []
    lines = ["## Perturbation probes: clamp fraction where test accuracy halves",
             "Mean over the seeds whose accuracy halves, and how many of the seeds do (n/a: none does).", "",
             "| variant | status | hidden from below | hidden from above | output from below | output from above |",
             "|---|---|---|---|---|---|"]
    for v in analyzed:
        hp = v["half_point"]
        lines.append(f"| {v['name']} | {v['status']} | " + " | ".join(
            fmt_half(hp[layer][way]) for layer in ("hidden_post", "output_post") for way in ("below", "above")) + " |")
    if missing:
        lines += ["", f"Not analyzed yet: {', '.join(missing)} (run `python -m distnet.analysis.analyze DIR`)."]
    return lines


def pairs_section(rep: dict) -> list[str]:
    lines = ["## Pairwise tests on final test accuracy",
             "Welch = unpaired unequal-variance t-test; paired = t-test on per-seed "
             "differences (valid because variants share seeds, which the paper's design implies). Holm-corrected "
             "within each family over all pairs. d = Cohen's d (pooled std). Diverged variants are left out "
             "(all rows here have status complete). A test the seeds leave no spread for (every seed scoring the "
             "same) is not run, and its cells say so.", "",
             "| A | B | A-B (pp) | Welch t | Welch p | Welch p (Holm) | paired t | paired p | paired p (Holm) | d |",
             "|" + "---|" * 10]
    for r in rep["pairs"]:
        lines.append(f"| {r['a']} | {r['b']} | {r['diff_pct']:+.2f} | {t_test_cells(r['welch'])} | "
                     f"{t_test_cells(r['paired'])} | {fmt_num(r['cohens_d'])} |")
    if rep.get("untested_pairs"):
        lines += ["", "Not tested against each other, because their runs differ in protocol: " + "; ".join(
            f"{u['a']} vs {u['b']} ({', '.join(u['differs'])})" for u in rep["untested_pairs"]) + "."]
    return lines + [""] + paper_t_section(rep)


def paper_t_section(rep: dict) -> list[str]:
    lines = ["### The paper's own test, from its published numbers",
             "The paper calls its tests paired; its t values are an unpaired equal-variance two-sample t-test on the "
             "discussion text's means and stds with n = 20 each, the stds read as population stds (ddof 0). Beside "
             "the Welch and paired tests above, which use this run's seeds.", "",
             "| pair | published t | t, stds as ddof 0 | t, stds as ddof 1 | ddof-0 t over the published rounding |",
             "|---|---|---|---|---|"]
    for r in rep.get("paper_t", []):
        lo, hi = r["t_ddof0_rounding_range"]
        lines.append(f"| {r['a']} vs {r['b']} | {r['published_t']:.2f} | {r['t_ddof0']:.2f} | {r['t_ddof1']:.2f} | "
                     f"[{lo:.2f}, {hi:.2f}] |")
    return lines


def published_section(rep: dict) -> list[str]:
    rows = rep["published"]
    comparable = [r for r in rows if r["comparable"]]
    head = ["## Against the published numbers (paper: 20 seeds, raw pixels, 5,000 or 50,000 epochs)"]
    if not comparable:
        differences = sorted({d for r in rows for d in r["differences"]})
        return head + ["No variant here follows the paper's protocol" + (f" ({'; '.join(differences)})" if differences
                       else "") + ", so none is compared with its published accuracy." if rows else
                       "The paper publishes no accuracy for these variants."]
    lines = head + ["Only a run with the paper's protocol exactly (its epochs, lr 1e-3, 128 hidden units, all of MNIST, "
                    "raw pixels, at least 20 seeds) is a reproduction. For those, Welch's t-test of the run's seeds "
                    "against the published mean, std and n = 20. Diverged variants are left out.", "",
                    "| variant | paper version | paper mean +/- std | paper epochs | run mean +/- std | "
                    "inside paper mean +/- 2 std | Welch vs paper t / p |", "|" + "---|" * 7]
    for r in comparable:
        w = r["welch_vs_paper"]
        inside = "n/a (no std)" if r["inside_2std"] is None else ("yes" if r["inside_2std"] else "no")
        lines.append(f"| {r['name']} | {r['version']} | {r['paper_mean']:.2f} +/- {fmt_num(r['paper_std'])} | "
                     f"{r['paper_epochs']} | {r['run_mean']:.2f} +/- {r['run_std']:.2f} | {inside} | "
                     f"{fmt_num(w['t']) + ' / ' + fmt_p(w['p']) if w else 'n/a'} |")
    others = sorted({r["name"] for r in rows} - {r["name"] for r in comparable})
    if others:
        lines += ["", f"Not compared (a protocol other than the paper's): {', '.join(others)}."]
    return lines


def sweep_section(rep: dict) -> list[str]:
    """Variant x swept value: final test accuracy over the seeds that finished, mean +/- std [95% interval]."""
    sw = rep.get("sweep")
    if not sw:
        return []
    lines = [f"## Sweep: final test accuracy (%) by {', '.join(sw['axes'])}",
             "Per variant and value: mean +/- std over the seeds that finished, [95% t interval]; seeds that went "
             "NaN/Inf are masked during training and left out here (counted as \"k diverged\"). Every value trains "
             "from the same seeds.", "",
             "| variant | " + " | ".join(sw["columns"]) + " |", "|---|" + "---|" * len(sw["columns"])]
    for variant, cells in sw["rows"].items():
        row = []
        for col in sw["columns"]:
            c = cells.get(col)
            if c is None:
                row.append("")
                continue
            text = (f"{summary.pct(c['mean'])} +/- {summary.pct(c['std'])} "
                    f"[{summary.pct(c['ci95'][0])}, {summary.pct(c['ci95'][1])}]")
            if c["status"] == "diverged":
                text = "diverged"
            elif c["diverged"]:
                text += f" ({c['diverged']} diverged)"
            row.append(text)
        lines.append(f"| {variant} | " + " | ".join(row) + " |")
    return lines


def markdown(rep: dict, figures: list[str]) -> str:
    """report.md: the findings ledger, the body (one definition per quantity: the author's where the numbers meet
    his notes, distnet's elsewhere), the figures (paths relative to the report), then an appendix with the other
    definitions and every pairwise test."""
    body = [sweep_section, accuracy_section, published_section, author_body, geometry_section,
            input_prototypes_section, ood_section]
    appendix = [units_section, probes_section, author_section, pairs_section]
    lines = ["# Variant comparison", "", f"Run folders: {', '.join(rep['dirs'])}"]
    if rep.get("unfinished"):
        lines += [""] + unfinished_lines(rep)
    if rep.get("findings"):
        lines += [""] + ledger.markdown(rep["findings"])
    for section in body:
        lines += _section(section(rep))
    lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    lines += ["", "## Appendix: other definitions and every test",
              "distnet's own definitions of the unit counts and probes, every step between them and the author's "
              "scripts, and every pairwise test behind the findings."]
    for section in appendix:
        lines += [line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in _section(section(rep))]
    return "\n".join(lines) + "\n"


def _section(body: list[str]) -> list[str]:
    return [""] + body if body else []


def latex(rep: dict) -> str:
    """The per-variant accuracy table as a LaTeX tabular."""
    pct = summary.pct
    lines = [r"\begin{tabular}{llrrrrl}", r"\hline",
             r"Model & Status & Epochs & Seeds & Mean (\%) & Std & 95\% CI \\", r"\hline"]
    for v in rep["variants"]:
        t = v["test_acc"]
        lines.append(f"{v['name'].replace('_', chr(92) + '_')} & {v['status']} & {v['protocol']['epochs']} & {t['n']} & "
                     f"{pct(t['mean'])} & {pct(t['std'])} & [{pct(t['ci95'][0])}, {pct(t['ci95'][1])}] \\\\")
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"
