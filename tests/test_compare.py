"""distnet.analysis.compare: which runs are comparable with the paper, and the per-variant summaries."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps

from distnet.analysis import compare, render, significance
from distnet.analysis.published import SEEDS

from helpers import PAPER_PROTOCOL, compare_record


A = [0.951, 0.948, 0.955, 0.949, 0.953]


def test_plateau_epoch_is_where_the_loss_is_within_1pct_of_its_total_decrease():
    loss = np.array([[10, 5, 2, 1.0, 1.0, 1.0], [10, 5, 2, 1.0, 1.0, 1.0]])
    assert compare.plateau_epoch(np.arange(6) * 10, loss) == 30


def test_the_paper_protocol_exactly_is_comparable_and_gets_a_welch_test_against_the_paper():
    accs = 0.9662 + 0.0017 * np.linspace(-1.5, 1.5, SEEDS)
    for p in (PAPER_PROTOCOL, {**PAPER_PROTOCOL, "seeds": 25}):
        row = next(r for r in compare.published_rows([compare_record(p, accs)]) if r["version"] == "Table 1")
        assert row["comparable"] and row["differences"] == []
        ref = sps.ttest_ind_from_stats(100 * accs.mean(), 100 * accs.std(ddof=1), len(accs), 96.62, 0.17, 20,
                                       equal_var=False)
        assert row["welch_vs_paper"]["p"] == pytest.approx(ref.pvalue)


@pytest.mark.parametrize("field, value, says", [
    ("epochs", 200, "epochs 200 vs 5000"), ("epochs", 50000, "epochs 50000 vs 5000"), ("lr", 0.01, "lr 0.01 vs 0.001"),
    ("hidden", 64, "hidden 64 vs 128"), ("n_train", 10000, "n_train 10000 vs 60000"),
    ("n_test", 500, "n_test 500 vs 10000"), ("data", "gaussians", "data gaussians vs mnist"),
    ("preprocess", "standardize", "preprocess standardize vs raw"), ("seeds", 3, "seeds 3 vs 20")])
def test_any_protocol_difference_is_not_comparable_and_is_named(field, value, says):
    accs = np.full(SEEDS if field != "seeds" else 3, 0.96)
    row = next(r for r in compare.published_rows([compare_record({**PAPER_PROTOCOL, field: value}, accs)]) if r["version"] == "Table 1")
    assert not row["comparable"] and row["differences"] == [says] and row["welch_vs_paper"] is None
    md = render.markdown({"dirs": [], "variants": [], "diverged": [], "pairs": [], "published": [row]}, [])
    assert f"No variant here follows the paper's protocol ({says}), so none is compared" in md
    assert "| ReLU | Table 1 |" not in md                     # one line, not a row per published version


def test_variants_of_different_protocols_are_never_tested_against_each_other_silently():
    short = {**PAPER_PROTOCOL, "epochs": 20}
    recs = [compare_record(PAPER_PROTOCOL, [0.95, 0.96, 0.97], "ReLU"),
            compare_record(PAPER_PROTOCOL, [0.90, 0.92, 0.91], "Abs"),
            compare_record(short, [0.5, 0.6, 0.55], "Abs-L2")]
    pairs = compare.pair_rows(recs)
    assert [(p["a"], p["b"]) for p in pairs] == [("ReLU", "Abs")]
    assert compare.untested_pairs(recs) == [{"a": "ReLU", "b": "Abs-L2", "differs": ["epochs 5000 vs 20"]},
                                            {"a": "Abs", "b": "Abs-L2", "differs": ["epochs 5000 vs 20"]}]
    text = "\n".join(render.pairs_section({"pairs": pairs, "untested_pairs": compare.untested_pairs(recs)}))
    assert ("Not tested against each other, because their runs differ in protocol: ReLU vs Abs-L2 (epochs 5000 vs "
            "20); Abs vs Abs-L2 (epochs 5000 vs 20).") in text


def test_a_different_seed_count_still_gets_welchs_test_but_not_the_paired_one():
    recs = [compare_record(PAPER_PROTOCOL, [0.95, 0.96, 0.97], "ReLU"),
            compare_record({**PAPER_PROTOCOL, "seeds": 2}, [0.90, 0.92], "Abs")]
    (pair,) = compare.pair_rows(recs)
    assert pair["welch"] is not None and pair["paired"] is None and compare.untested_pairs(recs) == []


def test_paper_t_rows_put_the_published_t_inside_the_ddof0_reading_of_its_rounded_inputs():
    rows = {r["a"]: r for r in compare.paper_t_rows()}
    assert rows["ReLU2"]["published_t"] == -17.33 and rows["Abs2"]["published_t"] == 8.97
    for r in rows.values():
        lo, hi = r["t_ddof0_rounding_range"]
        assert lo <= r["published_t"] <= hi
    lo, hi = rows["ReLU2"]["t_ddof0_rounding_range"]      # the sample-std (ddof 1) reading falls outside it
    assert not lo <= rows["ReLU2"]["t_ddof1"] <= hi


def test_author_rows_compare_the_scripts_counts_and_half_points_with_the_notes():
    rec = compare_record(PAPER_PROTOCOL, [0.9, 0.9, 0.9], variant="ReLU")
    step = {"definition": "d", "below": [0.1, 0.2, None], "above": [0.01, 0.01, 0.01]}
    rec["stats"] = {"author": {
        "activity": {"train": {"hidden_post": {"dead": [0, 0, 0], "rare": [1, 2, 3], "units": 128}}},
        "clamp_steps": [step, {**step, "mean_curve": {"below": 0.15, "above": 0.01}}]}}
    a = compare.author_rows([rec])
    (act,), (cl,) = a["activity"], a["clamp"]
    assert act["rare"]["mean"] == 2.0 and act["rare"]["std"] == pytest.approx(1.0)   # ddof 1
    assert act["notes"]["rare"] == pytest.approx(0.0047 * 128) and act["notes"]["dead"] == 0.0
    assert cl["steps"][-1]["below"] == pytest.approx(15.0) and cl["steps"][-1]["halved"] == [2, 3]
    assert cl["notes"] == {"below": 9, "above": 1} and cl["mean_curve"]["below"] == pytest.approx(15.0)
    md = render.markdown({"dirs": [], "variants": [], "diverged": [], "pairs": [], "published": [],
                          "paper_t": compare.paper_t_rows(), "author": a}, [])
    assert "| ReLU | train | hidden_post | 128 | 0.00 +/- 0.00 | 2.00 +/- 1.00 | 1.56 | 0.00 | 0.60 |" in md
    assert "| ReLU2 vs ReLU2-Neg | -17.33 | -17.34 | -17.79 |" in md


def test_plateau_epoch_of_seeds_that_all_diverged_is_over_the_epochs_before_without_a_warning():
    nan = np.nan
    loss = np.array([[10, 5, 1.0, 1.0, nan, nan], [10, 5, 1.0, 1.0, 1.0, nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # np.nanmean of the all-NaN last epoch warned "Mean of empty slice"
        assert compare.plateau_epoch(np.arange(6) * 10, loss) == 20
        assert compare.plateau_epoch(np.arange(6) * 10, np.full((2, 6), nan)) is None
        assert compare.plateau_epoch(np.arange(2), np.array([[2.0, nan], [2.0, np.inf]])) is None   # one epoch


def test_pairs_whose_seeds_leave_no_spread_get_no_test_and_stay_out_of_holms_count():
    recs = [compare_record(PAPER_PROTOCOL, accs, v) for v, accs in (("ReLU", [0.9, 0.9, 0.9]), ("Abs", [0.9, 0.9, 0.9]),
                                                                     ("Abs2", [0.80, 0.85, 0.82]))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = {(r["a"], r["b"]): r for r in compare.pair_rows(recs)}
    same = rows["ReLU", "Abs"]
    assert same["welch"] == {**significance.no_test(significance.IDENTICAL), "p_holm": None}
    assert same["paired"]["no_test"] == significance.IDENTICAL and np.isnan(same["cohens_d"])
    tested = rows["ReLU", "Abs2"]["welch"]
    assert tested["p_holm"] == pytest.approx(min(1.0, 2 * tested["p"]))      # Holm over the two tests run, not three
    text = "\n".join(render.pairs_section({"pairs": list(rows.values())}))
    no = "identical values: no test | - | -"
    assert f"| ReLU | Abs | +0.00 | {no} | {no} | n/a |" in text
