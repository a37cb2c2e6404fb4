"""distnet.analysis.plots_geometry on planted records: which axes are swept, one line per family along a width axis
(the untrained networks dashed), and a chance band that follows the widths."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from distnet.analysis import plots_geometry  # noqa: E402
from distnet.run import folder  # noqa: E402


def _record(variant, width, alignment, start):
    d = lambda m: {"mean": m, "ci95": [m - 0.01, m + 0.01]}
    scores = {"alignment": d(alignment), "axis_alignment": d(alignment - 0.1), "pass_fraction": d(0.3),
              "test_acc": d(0.9)}
    return {"name": variant, "variant": variant, "dir": "/planted/run/" + variant,
            "protocol": {"hidden": width}, "point": {"lr": 0.1, "init_scale": 1.0, "weight_decay": 0.0},
            "stats": {"geometry": {"summary": scores},
                      "geometry_track": {"epochs": [0, 10], **{k: [d(start), v] for k, v in scores.items()}}}}


def test_a_width_sweep_draws_a_line_per_family_and_chance_at_each_width(monkeypatch):
    ref = {"chance_alignment": {"mean": 0.7, "std": 0.01, "axis_mean": 0.6, "axis_std": 0.01},
           "chance_by_width": {"4": {"mean": 0.6, "std": 0.02, "axis_mean": 0.5, "axis_std": 0.02},
                               "8": {"mean": 0.7, "std": 0.01, "axis_mean": 0.6, "axis_std": 0.01}}}
    monkeypatch.setattr(folder, "load_reference", lambda workdir: ref)
    records = [_record(f"{v}@{w}", w, a, 0.5) for v in ("ReLU", "Abs2-Neg") for w, a in ((4, 0.8), (8, 0.9))]
    assert plots_geometry.swept_axes(records) == ["width"]
    fig = plots_geometry.against_swept(records, "width")
    ax = fig.axes[0]                                        # matched |cos|
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"ReLU", "Abs2-Neg", "ReLU, untrained (epoch 0)", "Abs2-Neg, untrained (epoch 0)"}
    np.testing.assert_array_equal(lines["ReLU"].get_xydata(), [[4, 0.8], [8, 0.9]])
    np.testing.assert_array_equal(lines["ReLU, untrained (epoch 0)"].get_xydata(), [[4, 0.5], [8, 0.5]])
    band = next(c for c in ax.collections if c.get_label() == "chance +/- 2 std at each width")
    np.testing.assert_allclose(band.get_paths()[0].vertices[:, 1].min(), 0.6 - 2 * 0.02)   # width 4's chance
    np.testing.assert_allclose(band.get_paths()[0].vertices[:, 1].max(), 0.7 + 2 * 0.01)   # width 8's
