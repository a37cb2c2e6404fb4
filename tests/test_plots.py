"""distnet.analysis.plots: every figure of the analyzed smoke run is drawn, labelled, and written atomically."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from distnet.analysis import compare, plots  # noqa: E402


@pytest.fixture(scope="module")
def records(analyzed):
    return compare.gather([analyzed])


def _series(ax):
    return [l.get_label() for l in ax.get_lines() if not l.get_label().startswith("_")]


@pytest.mark.parametrize("name, ylabel", [("learning_curves", "log10 test error"),
                                          ("training_curves", "log10 training error"),
                                          ("final_accuracy", "final test accuracy %"),
                                          ("dead_units", "units (of 16 in the layer)")])
def test_each_figure_has_labelled_axes_and_a_title(records, name, ylabel):
    fig = getattr(plots, name)(records)
    ax = fig.axes[0]
    assert ax.get_ylabel() == ylabel and (ax.get_title() or fig._suptitle)
    plt.close(fig)


@pytest.mark.parametrize("name", ["learning_curves", "training_curves", "perturbation", "noise", "dead_units"])
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


def test_noise_axis_has_a_labelled_tick_at_every_noise_scale_and_zero_on_it(records):
    fig = plots.noise(records)
    scales = records[0]["stats"]["noise"]["scale_of_inputs_std"]
    for ax in fig.axes:
        assert [float(t) for t in ax.get_xticks()] == pytest.approx(scales)
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{s:g}" for s in scales]
        # the smallest non-zero scale is the linear threshold, so 0 and it stand apart (not piled up at 0)
        px = ax.transData.transform([(s, 1) for s in scales])[:, 0]
        assert (px[1:] - px[:-1] > 10).all(), px
    plt.close(fig)


def test_perturbation_panels_name_layers_and_clamp_directions_in_words(records):
    fig = plots.perturbation(records)
    titles = " ".join(ax.get_title() for ax in fig.axes)
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
