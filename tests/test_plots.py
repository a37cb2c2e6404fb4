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


@pytest.mark.parametrize("name, ylabel", [("learning_curves", "log10 test error"),
                                          ("final_accuracy", "final test accuracy %"),
                                          ("dead_units", "% of the layer's units")])
def test_each_figure_has_one_series_per_variant_and_labelled_axes(records, name, ylabel):
    fig = getattr(plots, name)(records)
    ax = fig.axes[0]
    assert ax.get_ylabel() == ylabel and ax.get_title()
    plt.close(fig)


def test_all_figures_writes_one_png_per_figure_and_no_tmp_file(records, tmp_path):
    paths = plots.all_figures(records, tmp_path, log=lambda *a: None)
    names = sorted(p.stem for p in paths)
    assert names[:3] == ["class_distributions_Abs2-Neg", "class_distributions_ReLU", "dead_units"]
    assert {"learning_curves", "final_accuracy", "perturbation", "noise"} <= set(names)
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "figures").glob("*.tmp"))
