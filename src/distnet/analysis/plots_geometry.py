"""Figures of the geometry against a known truth (synthetic Gaussians): each score along training, from the untrained
network at epoch 0 to the last checkpoint, and each score's final value against each swept value (lr, init scale,
weight decay, width), one line per variant family, with the chance band of random directions."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from distnet.analysis import geometry
from distnet.analysis.plots_common import legend_outside, value_ticks
from distnet.nn import models
from distnet.run import folder

PANELS = (("alignment", "matched |cos| with the true axes"), ("axis_alignment", "axis alignment"),
          ("pass_fraction", "share of units through a class mean"), ("test_acc", "test accuracy"))
SWEPT = ("lr", "init_scale", "weight_decay", "width")
MAX_LINES = 12     # curves per panel along training


def _reference(records):
    return next((ref for r in records if (ref := folder.load_reference(Path(r["dir"]).parent))), None)


def _chance_band(ref, key: str, width: int):
    """(mean, std) of `key` for `width` random units (None for a score without a chance level)."""
    ch = geometry.chance_at(ref, width)
    return {"alignment": (ch["mean"], ch["std"]), "axis_alignment": (ch["axis_mean"], ch["axis_std"])}.get(key)


def _chance(ax, key: str, ref, widths, along_width: bool = False) -> None:
    """The chance band (mean +/- 2 std of random directions) on the panels that have one: flat for one width,
    following the widths along a width axis (`widths` sorted), none for a panel that mixes widths otherwise."""
    widths = sorted(set(widths))
    if not ref or _chance_band(ref, key, widths[0] if widths else 0) is None:
        return
    if len(widths) == 1:
        mean, std = _chance_band(ref, key, widths[0])
        ax.axhspan(mean - 2 * std, mean + 2 * std, color="0.6", alpha=0.25, lw=0, label="chance +/- 2 std")
    elif along_width:
        bands = np.array([_chance_band(ref, key, w) for w in widths])
        ax.fill_between(widths, bands[:, 0] - 2 * bands[:, 1], bands[:, 0] + 2 * bands[:, 1], color="0.6",
                        alpha=0.25, lw=0, label="chance +/- 2 std at each width")


def _panels(n=len(PANELS)):
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8))
    return fig, np.atleast_1d(axes)


def along_training(records):
    """Each geometry score against epoch (mean and 95% interval over seeds), epoch 0 being the untrained network; of
    a sweep, the points at init scale 1 and no weight decay (at most MAX_LINES curves)."""
    ref = _reference(records)
    if len(records) > MAX_LINES:   # a sweep: the points at the default init scale and weight decay
        records = [r for r in records if (r.get("point") or {}).get("init_scale", 1.0) == 1.0
                   and (r.get("point") or {}).get("weight_decay", 0.0) == 0.0][:MAX_LINES] or records[:MAX_LINES]
    fig, axes = _panels()
    for ax, (key, title) in zip(axes, PANELS):
        _chance(ax, key, ref, [r["protocol"]["hidden"] for r in records])
        for r in records:
            t = (r["stats"] or {}).get("geometry_track") or {}
            if key not in t:
                continue
            x = np.asarray(t["epochs"], float)
            mean = np.array([d["mean"] for d in t[key]], float)
            lo = np.array([np.nan if d.get("ci95") is None else d["ci95"][0] for d in t[key]], float)
            hi = np.array([np.nan if d.get("ci95") is None else d["ci95"][1] for d in t[key]], float)
            line, = ax.plot(x, mean, marker=".", label=r["name"])
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, lw=0)
        ax.set(title=title, xlabel="epoch (0: untrained)")
        ax.grid(alpha=0.3)
    fig.suptitle("Geometry against the known truth along training (mean, 95% interval over seeds)")
    legend_outside(fig, axes[0], ncol=1 + len(records) // 16)
    return fig


def _swept_value(r, axis: str):
    if axis == "width":
        return r["protocol"]["hidden"]
    return (r.get("point") or {}).get(axis)


def family(r, axis: str) -> str:
    """The line a record belongs to: its variant, without its width along a width axis."""
    return models.split(r["variant"])[0] if axis == "width" else r["variant"]


def swept_axes(records) -> list[str]:
    """The axes along which these records' geometry varies (two values or more, geometry measured)."""
    measured = [r for r in records if (r["stats"] or {}).get("geometry")]
    return [a for a in SWEPT if len({_swept_value(r, a) for r in measured} - {None}) > 1]


def against_swept(records, axis: str):
    """Each geometry score at the last checkpoint against the swept value on `axis`, one line per variant (per
    variant family along a width axis): the mean over seeds, averaged over the other swept values (the band spans
    their lowest and highest means); dashed, the same networks at epoch 0. The chance band where the panel's widths
    allow one."""
    ref = _reference(records)
    fig, axes = _panels()
    values = set()
    for ax, (key, title) in zip(axes, PANELS):
        _chance(ax, key, ref, [r["protocol"]["hidden"] for r in records if (r["stats"] or {}).get("geometry")],
                along_width=axis == "width")
        by_family, at_start = {}, {}
        for r in records:
            g = ((r["stats"] or {}).get("geometry") or {}).get("summary", {}).get(key)
            x = _swept_value(r, axis)
            if g is None or x is None or g.get("mean") is None:
                continue
            by_family.setdefault(family(r, axis), {}).setdefault(x, []).append(g["mean"])
            start = ((r["stats"] or {}).get("geometry_track") or {}).get(key, [None])[0]
            if start is not None and start.get("mean") is not None:
                at_start.setdefault(family(r, axis), {}).setdefault(x, []).append(start["mean"])
            values.add(x)
        for name, cells in by_family.items():
            xs = sorted(cells)
            means = [np.mean(cells[x]) for x in xs]
            line, = ax.plot(xs, means, marker="o", label=name)
            ax.fill_between(xs, [min(cells[x]) for x in xs], [max(cells[x]) for x in xs], color=line.get_color(),
                            alpha=0.15, lw=0)
            if name in at_start:      # the same networks at epoch 0
                u = at_start[name]
                ax.plot(sorted(u), [np.mean(u[x]) for x in sorted(u)], ls="--", lw=1, color=line.get_color(),
                        label=f"{name}, untrained (epoch 0)")
        if values and min(values) > 0 and max(values) / min(values) >= 10:
            ax.set_xscale("log")
        elif values and min(values) == 0 < max(values):
            ax.set_xscale("symlog", linthresh=min(v for v in values if v > 0))
        if values:
            value_ticks(ax.xaxis, values)
        ax.set(title=title, xlabel=axis)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Final geometry against {axis} (mean over seeds; band: over the other swept values; dashed: the "
                 f"same networks untrained)")
    legend_outside(fig, axes[0])      # the first panel holds every line and the chance band
    return fig


def figures(records) -> list[tuple]:
    """(figure name, function, argument) of the geometry figures the records allow, for plots.all_figures."""
    tracked = [r for r in records if (r["stats"] or {}).get("geometry_track")]
    todo = [("geometry_along_training", along_training, tracked)] if tracked else []
    return todo + [(f"geometry_vs_{a}", lambda rs, a=a: against_swept(rs, a), records) for a in swept_axes(records)]
