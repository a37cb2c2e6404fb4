"""The findings ledger as report.md and report.json carry it: every claim's row (distnet.analysis.findings and
findings_known compute them), in the order a reader asks: does the protocol reproduce the paper's numbers, do its
claims about accuracy hold, do the networks measure distances where the answer is known, and what the author's
own statistics say."""
from __future__ import annotations

from distnet.analysis import findings as fa, findings_known as fk
from distnet.analysis.findings import Folder, MAIN, TABLE1_ORDER, TEXT_ORDER, TRAIN_MAIN

BIAS = [f"{v}-Bias" for v in MAIN]


def build(rep: dict) -> list[dict]:
    """The ledger of a comparison (compare.build's plain data): one row per claim, a verdict each."""
    f = Folder(rep)
    return [
        fa.published(f, "discussion text and notes", MAIN, "the main study's accuracies (discussion text) reproduce",
                     TRAIN_MAIN),
        fa.published(f, "Table 1", MAIN, "the main study's accuracies (Table 1) reproduce", TRAIN_MAIN),
        fa.published(f, "Table 2", BIAS, "the bias study's accuracies (Table 2) reproduce",
                     "python train.py --config configs/paper_bias.py"),
        fa.ordering(f, TEXT_ORDER, "discussion text"),
        fa.ordering(f, TABLE1_ORDER, "Table 1"),
        fa.relu2_collapse(f),
        fa.paper_t(f, "ReLU2", "ReLU2-Neg", -17.33),
        fa.paper_t(f, "Abs2", "Abs2-Neg", 8.97),
        fa.bias_changes_nothing(f),
        fa.offsetl2_beats_linear(f),
        fk.axes(f),
        fk.through_means(f),
        fk.prototypes_near_means(f),
        fk.noise(f),
        fk.outliers(f),
        fk.dead_units(f, "dead"),
        fk.dead_units(f, "rare"),
        fk.clamp(f),
    ]


def markdown(rows: list[dict]) -> list[str]:
    """The "Findings" section: a count of verdicts, then one table row per claim."""
    counts = {v: sum(r["verdict"] == v for r in rows) for v in fa.VERDICTS}
    lines = ["## Findings",
             "Each verdict is computed from this report's numbers by the rule in its row (never typed): "
             + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ". A claim the folder cannot test names "
             "the command that would make it testable (DIR: this run folder).", "",
             "| claim | source | verdict | evidence | rule |", "|---|---|---|---|---|"]
    for r in rows:
        evidence = r["evidence"] + (f"; to test it: `{r['command']}`" if r["command"] else "")
        lines.append(f"| {r['claim']} | {r['source']} | **{r['verdict']}** | {evidence} | {r['rule']} |")
    return lines
