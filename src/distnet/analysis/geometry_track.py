"""The geometry against a known truth along training: at every saved checkpoint of a variant (epoch 0, the untrained
network, included), per sweep point, the scores that need only the parameters (matched |cos| with the true principal
axes, axis alignment, units through class means, OffsetL2 centres) and test accuracy. An input-space prototype's error
needs a search per network, so it is scored at the last checkpoint only (distnet.analysis.analyze.known_answers).
"""
from __future__ import annotations

import jax
import numpy as np

from distnet.analysis import geometry
from distnet.run import folder

SCORES = ("alignment", "axis_alignment", "pass_fraction", "centre_offset", "centre_on_own_mean", "test_acc")


def track(vdir, model, lanes, diverged, truth, ds, log=print) -> list[dict]:
    """Per sweep point: {"epochs": [...], score: [summary (mean, std, 95% interval over its seeds) per epoch]}, over
    the point's lanes that finished (an empty dict for a point none of whose lanes did)."""
    steps = folder.checkpoint_steps(vdir)
    log(f"  geometry along training ({len(steps)} checkpoints)")
    keep = [lanes.alive_of_point(i, diverged) for i in range(lanes.n_points)]
    out = [{"epochs": steps} if k else {} for k in keep]
    record, metrics = folder.read_config(vdir), folder.load_metrics(vdir)    # once, for every checkpoint's check
    for step in steps:
        params_L = folder.load_params(vdir, step, record, metrics)
        for i, lanes_i in enumerate(keep):
            if not lanes_i:
                continue
            params_S = jax.tree.map(lambda a: np.asarray(a)[lanes_i], params_L)
            g = geometry.geometry_summary(model, params_S, truth, ds, chance=False)["summary"]
            for k in SCORES:
                if k in g:
                    out[i].setdefault(k, []).append(g[k])
    return out


def last(point_track: dict) -> dict:
    """The scores at the last checkpoint, as geometry_summary's "summary" (for sweep points, whose networks get no
    prototype search)."""
    return {k: v[-1] for k, v in point_track.items() if k != "epochs"}
