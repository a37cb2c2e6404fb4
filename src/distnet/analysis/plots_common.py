"""Pieces every report figure shares: the legend beside the axes, seed bands, and log axes whose ticks read as
plain numbers (0.5, 1, 2, 5 ... rather than 10^-0.3 or log10 values a reader must convert by hand)."""
from __future__ import annotations

import math

import numpy as np
from matplotlib import ticker

LAYER_NAMES = {"hidden_post": "hidden layer (after its activation)", "output_post": "output layer (the logits)"}
CLAMP_NAMES = {"below": "from below: each unit's values under min + f x range raised to it",
               "above": "from above: each unit's values over max - f x range lowered to it"}


def legend_outside(fig, ax, ncol=1):
    """One legend to the right of the axes, never on the curves."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, ncol=ncol, frameon=False)
    fig.tight_layout()


def band(ax, x, values_SxE, label, log=False, **line_kw):
    """Seed mean as a line with a band of one std over seeds; returns the line. log: mean and std of log10 of the
    values, drawn back in the values' own units (the geometric mean, times/divided by 10^std), for a log axis."""
    v = np.log10(values_SxE) if log else np.asarray(values_SxE, float)
    mean, std = v.mean(0), v.std(0)
    lo, mid, hi = (10 ** a if log else a for a in (mean - std, mean, mean + std))
    line, = ax.plot(x, mid, label=label, **line_kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return line


def error_pct(acc_SxE):
    """Error rate in %, kept inside [0.01%, 100%] so a perfect seed does not send a log axis to -inf."""
    return 100 * np.clip(1.0 - np.asarray(acc_SxE, float), 1e-4, 1.0)


def _plain(v, _pos=None):
    return f"{v:g}"


def log_ticks(ax, which="y", most=7):
    """Label a log axis in plain numbers: major ticks at m x 10^k inside its current limits, for the finest of the
    steps m in (1, 1.5, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,) that makes at most `most` (two evenly spaced ones,
    rounded, when fewer than two fall inside); minor ticks unlabelled. Call once the data are drawn: the limits
    stay as they were."""
    lim = ax.get_ylim() if which == "y" else ax.get_xlim()
    lo, hi = sorted(lim)
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mults in ((1, 1.5, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** k for k in decades for m in mults if lo <= m * 10.0 ** k <= hi]
        if len(ticks) <= most:
            break
    if len(ticks) < 2:
        ticks = sorted({float(f"{t:.2g}") for t in np.geomspace(lo, hi, 4)[1:-1]} | set(ticks))
    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(ticker.FixedLocator(ticks))
    axis.set_major_formatter(ticker.FuncFormatter(_plain))
    axis.set_minor_formatter(ticker.NullFormatter())
    (ax.set_ylim if which == "y" else ax.set_xlim)(lim)


def value_ticks(axis, values):
    """A labelled tick at each of `values` (the levels a figure was measured at) and no minor tick labels."""
    values = sorted(set(float(v) for v in values))
    axis.set_major_locator(ticker.FixedLocator(values))
    axis.set_major_formatter(ticker.FixedFormatter([_plain(v) for v in values]))
    axis.set_minor_formatter(ticker.NullFormatter())
