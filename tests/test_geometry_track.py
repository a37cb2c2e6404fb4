"""distnet.analysis.geometry_track: the geometry at every checkpoint, on planted networks whose scores are known:
the analytic Mahalanobis network with every unit turned by a known angle inside its class's eigenbasis."""
from __future__ import annotations

import numpy as np
import pytest

from distnet import data
from distnet.analysis import geometry, geometry_track
from distnet.lanes import Lanes
from distnet.run import folder

from helpers import load_config

EPS32 = float(np.finfo(np.float32).eps)
ANGLES = {10: 30.0, 20: 10.0, 30: 0.0}      # checkpoint epoch -> degrees every unit is turned by


def turned(ds, degrees: float):
    """The analytic network with each unit's normal v_{c,2k} turned by `degrees` towards v_{c,2k+1} (and v_{c,2k+1}
    away from it) inside its class's eigenbasis, its bias moved so the hyperplane still passes through mu_c: every
    unit's best |cos| with its class's axes is cos(degrees), the one-to-one matching keeps each unit on its own axis
    (cos > sin below 45 degrees) and every hyperplane passes through a class mean."""
    model, p = geometry.analytic_network(ds.truth)
    t = np.radians(degrees)
    means, vecs, lam = (np.asarray(ds.truth[k], np.float64) for k in ("means", "eigenvectors", "eigenvalues"))
    cols, bias = [], []
    for c in range(len(means)):
        v = vecs[c] / np.sqrt(lam[c])                         # the analytic block's columns
        w = v.copy()
        for k in range(0, v.shape[1] - 1, 2):
            a, b = vecs[c][:, k], vecs[c][:, k + 1]
            w[:, k] = (np.cos(t) * a + np.sin(t) * b) / np.sqrt(lam[c][k])
            w[:, k + 1] = (-np.sin(t) * a + np.cos(t) * b) / np.sqrt(lam[c][k + 1])
        cols.append(w)
        bias.append(-means[c] @ w)
    p["hidden"]["kernel"] = np.concatenate(cols, axis=1).astype(np.float32)[None]
    p["hidden"]["bias"] = np.concatenate(bias).astype(np.float32)[None]
    return model, p


def test_a_planted_network_scores_as_it_should_at_every_checkpoint(monkeypatch):
    ds = data.gaussians(300, 60, dim=6, classes=2, seed=3, separation=1.0, spread=20.0)
    model, untrained = geometry.analytic_network(ds.truth)
    rng = np.random.default_rng(0)
    untrained["hidden"] = {k: rng.uniform(-0.4, 0.4, v.shape).astype(np.float32) for k, v in untrained["hidden"].items()}
    by_step = {0: untrained, **{s: turned(ds, a)[1] for s, a in ANGLES.items()}}
    monkeypatch.setattr(folder, "checkpoint_steps", lambda vdir: sorted(by_step))
    monkeypatch.setattr(folder, "load_params", lambda vdir, step, *known: by_step[step])
    monkeypatch.setattr(folder, "read_config", lambda vdir: {})      # the checks load_params makes are not the test's
    monkeypatch.setattr(folder, "load_metrics", lambda vdir: {})
    cfg = load_config("smoke")
    cfg.num_seeds = 1
    (t,) = geometry_track.track("planted", model, Lanes.from_config(cfg), np.zeros(1, int), ds.truth, ds,
                                log=lambda *a: None)
    assert t["epochs"] == [0, 10, 20, 30]
    # float32 storage of each normal's entries moves its |cos| by at most D eps32
    for i, step in enumerate(t["epochs"][1:], 1):
        want = np.cos(np.radians(ANGLES[step]))
        assert t["axis_alignment"][i]["mean"] == pytest.approx(want, abs=ds.dim * EPS32)
        assert t["alignment"][i]["mean"] == pytest.approx(want, abs=ds.dim * EPS32)
        assert t["pass_fraction"][i]["mean"] == 1.0
    assert t["alignment"][0]["mean"] < np.cos(np.radians(30.0)) and t["pass_fraction"][0]["mean"] < 1.0
    assert geometry_track.last(t)["alignment"] == t["alignment"][-1]
