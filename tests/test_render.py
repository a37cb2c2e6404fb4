"""distnet.analysis.render: the report's tables say what they hold."""
from __future__ import annotations

import pytest

from distnet.analysis import compare, render

from helpers import PAPER_PROTOCOL, compare_record


def test_half_point_says_how_many_seeds_halve():
    rec = compare_record(PAPER_PROTOCOL, [0.9, 0.9, 0.9])
    rec["stats"] = {"perturbation": {l: {"half_below": [0.4, None, 0.6], "half_above": [None] * 3}
                                     for l in ("hidden_post", "output_post")}}
    hp = compare.variant_row(rec)["half_point"]["hidden_post"]
    assert hp["below"] == {"mean": pytest.approx(0.5), "halved": 2, "seeds": 3}
    assert hp["above"] == {"mean": None, "halved": 0, "seeds": 3}
    md = render.markdown({"dirs": [], "variants": [compare.variant_row(rec)], "diverged": [], "pairs": [],
                          "published": []}, [])
    assert "0.50 (2/3 seeds halve) | n/a (0/3 seeds halve)" in md


def test_variants_without_analysis_are_named_not_left_out():
    rows = [compare.variant_row(compare_record(PAPER_PROTOCOL, [0.9, 0.9], variant=v)) for v in ("ReLU", "Abs")]
    rows[0]["half_point"] = {layer: {way: {"mean": 0.5, "halved": 2, "seeds": 2} for way in ("below", "above")}
                             for layer in ("hidden_post", "output_post")}
    md = render.markdown({"dirs": [], "variants": rows, "diverged": [], "pairs": [], "published": []}, [])
    assert "| ReLU | complete | 0.50 (2/2 seeds halve)" in md
    assert "Not analyzed yet: Abs (run `python -m distnet.analysis.analyze DIR`)." in md


def test_unfinished_variants_are_named_with_how_far_they_got_and_a_missing_plateau_is_na():
    row = compare.variant_row(compare_record(PAPER_PROTOCOL, [0.9, 0.9]))
    row["plateau_epoch"] = None                      # every seed diverged at once: no decrease to measure
    stopped = [{"name": "Abs", "epoch": 1200, "checkpoint": 1000, "epochs": 5000},
               {"name": "Abs2", "epoch": None, "checkpoint": None, "epochs": 5000}]
    md = render.markdown({"dirs": ["r"], "variants": [row], "diverged": [], "pairs": [], "published": [],
                          "unfinished": stopped}, [])
    assert ("**Unfinished**, left out of every table, test and figure (rerun the train.py command that wrote the "
            "folder to finish them): Abs (epoch 1200 of 5000; resumes from its checkpoint at epoch 1000); "
            "Abs2 (no epoch recorded yet of 5000; no checkpoint yet: starts over).") in md
    assert md.index("**Unfinished**") < md.index("## Test accuracy")
    assert next(line for line in md.splitlines() if line.startswith("| ReLU |")).endswith("| n/a |")
    assert "Unfinished" not in render.markdown({"dirs": ["r"], "variants": [row], "diverged": [], "pairs": [],
                                                "published": [], "unfinished": []}, [])
