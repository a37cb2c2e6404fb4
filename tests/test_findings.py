"""The findings ledger: each rule's verdict on comparisons whose answer is planted (supported, contradicted, not
testable here), computed through compare.from_records as report.py computes it, and its place in report.md."""
from __future__ import annotations

import numpy as np
import pytest

from distnet.analysis import compare, findings, findings_known, ledger, report
from distnet.analysis.published import HIDDEN, LR, N_TEST, N_TRAIN, PREPROCESS, SEEDS

PAPER = {"epochs": 5000, "seeds": SEEDS, "seed": 0, "data": "mnist", "preprocess": PREPROCESS, "n_train": N_TRAIN,
         "n_test": N_TEST, "hidden": HIDDEN, "lr": LR, "init_scale": 1.0, "weight_decay": 0.0}
SHORT = {**PAPER, "epochs": 100, "seeds": 10, "n_train": 2000, "n_test": 1000}


def record(variant: str, mean: float, std: float, protocol=SHORT, stats=None, seed=0) -> dict:
    """A finished variant as compare.gather reads it, with final test accuracies drawn around mean (%)."""
    n = protocol["seeds"]
    final = np.random.default_rng(seed).normal(mean, std, n) / 100
    acc = np.stack([np.full(n, 0.1), final], axis=1)
    return {"name": variant, "variant": variant, "status": "complete", "point": None, "seed_index": list(range(n)),
            "diverged_lanes": 0, "protocol": dict(protocol), "stats": stats, "dir": f"/planted/{variant}",
            "metrics": {"epoch": np.array([0, protocol["epochs"]]), "test_acc": acc, "train_acc": acc,
                        "train_loss": np.stack([np.full(n, 2.3), 1 - final], axis=1)}}


def verdicts(records) -> dict:
    return {r["claim"]: r for r in compare.from_records(records)["findings"]}


def claim(rows: dict, start: str) -> dict:
    return next(r for c, r in rows.items() if c.startswith(start))


# the discussion text's means, a little spread (n = 10 seeds each)
TEXT = {"ReLU": 95.7, "Abs2": 95.4, "Abs": 95.3, "ReLU2-Neg": 94.9, "Abs2-Neg": 91.0, "ReLU2": 45.0}


def test_planted_supported_contradicted_and_untestable_accuracy_claims():
    rows = verdicts([record(v, m, 0.05 if v != "ReLU2" else 5.0, seed=i) for i, (v, m) in enumerate(TEXT.items())])
    assert claim(rows, "ReLU2 (forced")["verdict"] == "supported"
    assert claim(rows, "ReLU2-Neg beats ReLU2")["verdict"] == "supported"
    assert claim(rows, "Abs2 beats Abs2-Neg")["verdict"] == "supported"
    text_order = claim(rows, "the main variants rank ReLU > Abs2")
    table1_order = claim(rows, "the main variants rank ReLU > ReLU2-Neg")
    assert text_order["verdict"] == "supported"
    assert table1_order["verdict"] == "contradicted" and "Abs > ReLU2-Neg" in table1_order["evidence"]
    assert "not the paper's" in text_order["evidence"]            # a short run's verdict says whose protocol it is
    # a planted reversal: ReLU2 on top
    flipped = verdicts([record(v, 99.0 if v == "ReLU2" else m, 0.05, seed=i) for i, (v, m) in enumerate(TEXT.items())])
    assert claim(flipped, "ReLU2 (forced")["verdict"] == "contradicted"
    assert claim(flipped, "ReLU2-Neg beats ReLU2")["verdict"] == "contradicted"
    # what the folder lacks: no ReLU2, no bias twins, no OffsetL2, no analysis
    few = verdicts([record("ReLU", 95.7, 0.1), record("Abs", 95.3, 0.1, seed=1)])
    for start in ("ReLU2 (forced", "an output bias", "OffsetL2 output layers", "trained first-layer units",
                  "small input noise", "clamp half points"):
        r = claim(few, start)
        assert r["verdict"] == "not testable here" and r["command"].startswith("python "), r
    assert len(few) == len(ledger.build({"variants": [], "pairs": [], "published": []}))   # every claim, once each


def test_published_numbers_and_bias_rules_at_the_paper_protocol():
    main = [record(v, m, 0.15 if v != "ReLU2" else 12.0, PAPER, seed=i) for i, (v, m) in enumerate(TEXT.items())]
    bias = [record(f"{v}-Bias", m, 0.15 if v != "ReLU2" else 12.0, PAPER, seed=10 + i) for i, (v, m) in
            enumerate(TEXT.items())]
    rows = verdicts(main + bias)
    assert claim(rows, "the main study's accuracies (discussion")["verdict"] == "supported"
    assert claim(rows, "the main study's accuracies (Table 1)")["verdict"] == "contradicted"   # ReLU2-Neg 94.9 vs 96.46
    assert claim(rows, "the bias study's")["verdict"] == "supported"
    assert claim(rows, "an output bias")["verdict"] == "supported"
    assert "not the paper's" not in claim(rows, "the main variants rank ReLU > Abs2")["evidence"]
    moved = verdicts(main + [record("ReLU-Bias", 93.0, 0.15, PAPER, seed=30)])
    assert claim(moved, "an output bias")["verdict"] == "contradicted"


def _geometry_rep(trained_alignment, trained_error, untrained_alignment=0.760) -> dict:
    """A comparison with a known truth: two variants' geometry summaries, the untrained network's, the reference."""
    def d(mean, half=0.01):
        return {"mean": mean, "std": half, "ci95": [mean - half, mean + half], "n": 5}
    def geo(a, e):
        return {"alignment": d(a), "pass_fraction": d(0.3), "prototype_error": d(e, 0.1)}
    variants = [{"name": v, "variant": v, "status": "complete", "test_acc": d(0.9), "protocol": SHORT,
                 "geometry": geo(trained_alignment, err), "geometry_untrained": geo(untrained_alignment, 5.0)}
                for v, err in (("Abs2-Neg", trained_error), ("ReLU2-Neg", trained_error))]
    return {"variants": variants, "pairs": [], "published": [], "author": {},
            "geometry_reference": {"chance_alignment": {"mean": 0.769, "std": 0.005}, "data_mean_error": 2.21}}


@pytest.mark.parametrize("alignment, error, axes, protos", [
    (0.95, 0.9, "supported", "supported"),          # units on the axes, prototypes on the means
    (0.765, 8.0, "contradicted", "contradicted"),   # no better than chance; prototypes farther than the data mean
    (0.785, 2.21, "inconclusive", "inconclusive")])   # intervals straddle the lines
def test_known_answer_rules_against_untrained_and_chance(alignment, error, axes, protos):
    f = findings.Folder(_geometry_rep(alignment, error))
    assert findings_known.axes(f)["verdict"] == axes
    assert findings_known.prototypes_near_means(f)["verdict"] == protos


def test_the_report_opens_with_the_findings(analyzed, tmp_path):
    rep = report.write([analyzed], tmp_path, log=lambda *a: None)
    md = (tmp_path / "report" / "report.md").read_text()
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Findings" and sections[-1] == "## Appendix: other definitions and every test"
    # each claim is a row of the table with its own verdict (row() itself refuses a verdict outside VERDICTS)
    assert all(f"| {r['claim']} | {r['source']} | **{r['verdict']}** |" in md for r in rep["findings"])
    assert md.count("**not testable here**") == sum(r["verdict"] == "not testable here" for r in rep["findings"])
