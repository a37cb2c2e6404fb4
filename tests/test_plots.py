"""distnet.analysis.plots: every figure of the analyzed smoke run is drawn, labelled, and written atomically."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import PAPER_PROTOCOL, compare_record  # noqa: E402

from distnet.analysis import compare, plots  # noqa: E402


@pytest.fixture(scope="module")
def records(analyzed):
    return compare.gather([analyzed])


def _series(ax):
    return [l.get_label() for l in ax.get_lines() if not l.get_label().startswith("_")]


@pytest.mark.parametrize("name, ylabel", [("learning_curves", "test error % (log scale)"),
                                          ("training_curves", "training error % (log scale)"),
                                          ("final_accuracy", "final test accuracy %"),
                                          ("dead_units", "units (of 16 in the layer)")])
def test_each_figure_has_labelled_axes_and_a_title(records, name, ylabel):
    fig = getattr(plots, name)(records)
    ax = fig.axes[0]
    assert ax.get_ylabel() == ylabel and (ax.get_title() or fig._suptitle)
    plt.close(fig)


@pytest.mark.parametrize("name", ["learning_curves", "training_curves", "noise", "dead_units"])
def test_legends_sit_outside_the_axes_with_one_entry_per_variant(records, name):
    fig = getattr(plots, name)(records)
    assert all(ax.get_legend() is None for ax in fig.axes)          # nothing drawn over the curves
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    if name == "dead_units":
        assert labels == ["dead (never active)", "active on < 1% of inputs", "active on < 5% of inputs"]
    else:
        assert labels == [r["name"] for r in records]
    plt.close(fig)


def test_training_curves_show_training_error_and_loss_per_variant(records):
    fig = plots.training_curves(records)
    err, loss = fig.axes
    assert "loss" in loss.get_ylabel() and _series(err) == _series(loss) == [r["name"] for r in records]
    plt.close(fig)


def test_noise_axis_has_a_labelled_tick_at_every_nonzero_noise_scale(records):
    fig = plots.noise(records)
    scales = [s for s in records[0]["stats"]["noise"]["scale_of_inputs_std"] if s > 0]
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        assert [float(t) for t in ax.get_xticks()] == pytest.approx(scales)
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{s:g}" for s in scales]
    plt.close(fig)


def test_perturbation_panels_name_layers_and_clamp_directions_in_words(records):
    fig = plots.perturbation(records)
    titles = " ".join(ax.get_title().replace("\n", " ") for ax in fig.axes)
    assert "_post" not in titles and "hidden layer" in titles and "output layer" in titles
    assert "min + f x range raised" in titles and "max - f x range lowered" in titles
    plt.close(fig)


def test_dead_unit_bars_carry_every_seed_as_a_point(records):
    fig = plots.dead_units(records)
    hidden = fig.axes[0]
    rows = [r for r in records if r["stats"] and "summary" in r["stats"]]
    seeds = len(rows[0]["stats"]["summary"]["activity"]["train"]["hidden_post"]["dead"])
    points = sum(len(c.get_offsets()) for c in hidden.collections)
    assert points == 3 * seeds * len(rows)                         # three kinds of count, every seed, every variant
    plt.close(fig)


def test_all_figures_writes_one_png_per_figure_and_no_tmp_file(records, tmp_path):
    paths = plots.all_figures(records, tmp_path, log=lambda *a: None)
    names = sorted(p.stem for p in paths)
    assert names[:3] == ["class_distributions_Abs2-Neg", "class_distributions_ReLU", "dead_units"]
    assert {"learning_curves", "training_curves", "final_accuracy", "perturbation", "noise"} <= set(names)
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "figures").glob("*.tmp"))


# --- synthetic records: cheap, and shaped to the case each figure must handle ---------------------------------

LAYERS = ("hidden_post", "output_post")


def _probe_record(name, seeds=2, k=0, scales=(0.0, 0.01, 0.1, 1.0)):
    """A record with the statistics analyze writes (noise, perturbation, unit activity, outlier AUROC), made up."""
    from distnet.run import summary

    rng = np.random.default_rng(k)
    s, n = seeds, len(scales)
    rec = compare_record(PAPER_PROTOCOL, 0.9 + 0.01 * rng.random(seeds), variant=name)
    auroc = {}
    for sc in ("msp", "reading"):
        a = list(0.6 + 0.3 * rng.random(s))
        rng.random(s)                       # a draw the records were made with: what follows stays as it was
        auroc[sc] = {"auroc": a, "summary": summary.describe(a, (0.0, 1.0))}
    counts = {"units": 16, **{kind: list(rng.integers(0, 16, s)) for kind in ("dead", "rare_1pct", "rare_5pct")}}
    rec["stats"] = {
        "noise": {"scale_of_inputs_std": list(scales), "accuracy": 0.9 - 0.5 * np.array(scales) * rng.random((s, 1)),
                  "output_shift": np.array(scales) * (1 + rng.random((s, 1)))},
        "perturbation": {layer: {"fractions": [0.0, 0.25, 0.5], "below": rng.random((s, 3)),
                                 "above": rng.random((s, 3))} for layer in LAYERS},
        "summary": {"activity": {"train": {layer: counts for layer in LAYERS}}},
        "ood": {"sets": {"uniform": auroc, "gaussian": auroc}}}
    return rec


def _many(n, seeds=2):
    return [_probe_record(f"V{i}", seeds=seeds, k=i) for i in range(n)]


def test_error_curves_are_in_percent_on_a_log_axis_with_plain_tick_labels():
    recs = [compare_record(PAPER_PROTOCOL, [0.9, 0.9]), compare_record(PAPER_PROTOCOL, [0.995, 0.995], "Abs")]
    for fig in (plots.learning_curves(recs), plots.training_curves(recs)):
        ax = fig.axes[0]
        assert ax.get_yscale() == "log" and "%" in ax.get_ylabel()
        # error 1 - acc in percent: 100% at epoch 0, then 10% and 0.5% (seeds agree, so the mean is exact)
        assert [list(l.get_ydata()) for l in ax.get_lines()] == [pytest.approx([100, 10]), pytest.approx([100, 0.5])]
        fig.canvas.draw()
        labels = [t.get_text() for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]
        assert {"1", "10", "100"} <= set(labels) and not any("10^" in t or "$" in t for t in labels), labels
        assert not any(t.get_text() for t in ax.yaxis.get_minorticklabels())
        plt.close(fig)


def test_noise_panels_draw_the_true_levels_with_a_seed_band_and_the_noise_free_accuracy_apart():
    recs = _many(2)
    fig = plots.noise(recs)
    acc_ax, shift_ax = fig.axes
    levels = [0.01, 0.1, 1.0]                                 # noise 0 has no place on a log axis
    for ax in (acc_ax, shift_ax):
        curves = [l for l in ax.get_lines() if l.get_linestyle() == "-"]
        assert [list(l.get_xdata()) for l in curves] == [levels, levels]
        assert len(ax.collections) == len(recs)               # one band of the seed spread per variant
    assert shift_ax.get_yscale() == "log"
    shift = np.asarray(recs[0]["stats"]["noise"]["output_shift"])[:, 1:]
    assert shift_ax.get_lines()[0].get_ydata() == pytest.approx(10 ** np.log10(shift).mean(0))
    dashed = [l for l in acc_ax.get_lines() if l.get_linestyle() == "--"]
    clean = [100 * np.asarray(r["stats"]["noise"]["accuracy"])[:, 0].mean() for r in recs]
    assert [l.get_ydata()[0] for l in dashed] == pytest.approx(clean)
    plt.close(fig)


def test_dead_unit_counts_are_readable_above_their_seeds_with_many_variants():
    recs = _many(6, seeds=3)                                  # past 4 the figure widens with the variants
    fig = plots.dead_units(recs)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert len(ax.texts) == 3 * len(recs) and all(t.get_fontsize() >= 8 for t in ax.texts)
    boxes = [t.get_window_extent() for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])   # no label on another
    tops = {}
    for coll in ax.collections:                              # seed dots: top pixel per bar position
        for x, y in ax.transData.transform(coll.get_offsets()):
            tops[round(x)] = max(tops.get(round(x), -np.inf), y)
    for t, box in zip(ax.texts, boxes):
        x = round(ax.transData.transform(t.xy)[0])
        assert box.y0 >= tops[x], (t.get_text(), box.y0, tops[x])   # the number sits above every seed's dot
        assert box.y1 <= ax.get_window_extent().y1                     # and inside the axes
    plt.close(fig)


def _sweep_records():
    """Two variants at three learning rates, 3 seeds: ReLU diverged at lr 1 (every seed), Abs lost one seed there."""
    recs = []
    for v in ("ReLU", "Abs"):
        for lr in (1e-3, 1e-2, 1.0):
            gone = {("ReLU", 1.0): 3, ("Abs", 1.0): 1}.get((v, lr), 0)
            r = compare_record({**PAPER_PROTOCOL, "lr": lr}, [np.nan] * 3 if gone == 3 else [0.8, 0.85, 0.9][gone:],
                               variant=v, status="diverged" if gone == 3 else "complete")
            recs.append({**r, "name": f"{v} lr={lr:g}", "point": {"lr": lr, "init_scale": 1.0, "weight_decay": 0.0},
                         "diverged_lanes": gone})
    return recs


def test_sweep_marks_a_diverged_point_and_ticks_only_the_swept_values():
    fig = plots.sweep(_sweep_records(), "lr")
    ax = fig.axes[0]
    words = {(t.get_text(), t.xy[0]) for t in ax.texts}
    assert [w for w in words if "diverged" in w[0] and "seeds" not in w[0]] == [("ReLU diverged", 1.0)]
    assert any(w == "1 of 3 seeds diverged" and x == 1.0 for w, x in words)
    assert ax.get_xscale() == "log" and [float(t) for t in ax.get_xticks()] == pytest.approx([1e-3, 1e-2, 1.0])
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.01", "1"]
    assert not any(t.get_text() for t in ax.xaxis.get_minorticklabels())
    plt.close(fig)


def test_final_accuracy_marks_a_diverged_point_where_its_box_would_be():
    recs = _sweep_records()
    fig = plots.final_accuracy(recs)
    ax = fig.axes[0]
    (mark,) = [t for t in ax.texts if t.get_text() == "diverged"]
    assert mark.xy[0] == 2                                    # ReLU lr=1, the third record
    assert not any(len(c.get_offsets()) and (c.get_offsets()[:, 0].round() == 2).any() for c in ax.collections)
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names[5] == "Abs lr=1\n(1 of 3 seeds diverged)" and names[0] == "ReLU lr=0.001"
    plt.close(fig)


def test_perturbation_draws_a_row_per_variant_with_the_others_in_grey():
    recs = _many(4)
    fig = plots.perturbation(recs)
    assert len(fig.axes) == len(recs) * 4
    for i, r in enumerate(recs):
        row = fig.axes[4 * i: 4 * i + 4]
        assert row[0].get_ylabel().startswith(r["name"])
        for ax in row:
            colours = [l.get_color() for l in ax.get_lines()]
            assert colours.count("0.75") == 3 and f"C{i}" in colours     # the 3 others behind, this one in colour
    plt.close(fig)


@pytest.mark.parametrize("seeds, dots", [(2, True), (6, False)])
def test_ood_auroc_shows_the_seeds_themselves_when_they_are_few(seeds, dots):
    recs = _many(3, seeds=seeds)
    fig = plots.ood_auroc(recs)
    ax = fig.axes[0]
    drawn = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())])
    every_seed = np.concatenate([r["stats"]["ood"]["sets"]["uniform"]["msp"]["auroc"] for r in recs])
    assert np.isin(np.round(every_seed, 12), np.round(drawn, 12)).all() == dots
    assert bool(ax.containers) != dots                        # intervals only where there are enough seeds
    plt.close(fig)


def test_prototype_grid_labels_are_readable(tmp_path):
    from distnet.run import folder

    rng = np.random.default_rng(0)
    folder.write_prototypes(tmp_path, rng.random((1, 10, 64)), rng.random((1, 10, 64)))
    rec = {**compare_record(PAPER_PROTOCOL, [0.9]), "dir": str(tmp_path),
           "stats": {"input_prototypes": {"predicted": [list(range(10))]}}}
    fig = plots.prototype_grid([rec])
    assert [fig.axes[0].yaxis.label.get_text(), fig.axes[10].yaxis.label.get_text()] == ["ReLU", "nearest"]
    assert min(fig.axes[0].yaxis.label.get_fontsize(), fig.axes[10].yaxis.label.get_fontsize()) >= 9
    assert min(ax.title.get_fontsize() for ax in fig.axes[:10]) >= 8
    plt.close(fig)
