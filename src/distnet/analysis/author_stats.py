"""The author's own statistics, by the definitions of the released analysis scripts, beside distnet's.

The companion repository's notes (paper/notes/dead_nodes.md, layer_perturbation_results.md) publish dead-node
counts and clamp-probe "50% accuracy loss" points computed by src/analyze_dead_nodes.py and
src/analyze_layer_perturbation.py (published numbers: distnet.analysis.published.NOTES_*). Their definitions,
read from those scripts:

Dead and rarely active units (analyze_dead_nodes.py)
  - every Linear, ReLU, Abs and Neg output of the network; the notes quote activation0 (our hidden_post) and
    activation1 (our output_post);
  - both splits, reported separately (60,000 train and 10,000 test inputs, raw 0..255 pixels);
  - active: |a| > 1e-6; dead: active for no input; rarely active: active for fewer than 0.01 * N inputs,
    compared as integer counts, DEAD UNITS INCLUDED (a count of 0 is below 0.01 * N). The notes add dead and
    rare (22% + 53.5% = 75.5%), which counts ReLU2's dead output units twice;
  - per layer, the mean and the (ddof = 1, torch's default) std over runs of the per-run counts, and
    mean / units as a percentage.
  distnet.analysis.stats.activity_counts's definition is the same (threshold, 1% cut, dead units among the rare;
  a unit active on exactly 1% of inputs is not rare in either); the report's units table shows the train split
  and no std. So the two differ only in what they print, and any gap to the notes is not one of definitions.

Layer clamp probe (analyze_layer_perturbation.py)
  - one clamp on the first layer's post-activation (the PerturbationLayer after activation0), the SAME scalar
    bound for all units: from below clamp(h, min=v), from above clamp(h, max=v);
  - v = lo + (hi - lo) * q for q = 0, 1, ..., 100 % (101 steps), lo and hi the smallest and largest value over
    all units of every hooked module's output on the TRAINING split. Hooked: every ReLU module and every module
    whose type name contains "Abs". The Abs models' own classes are named Model_Abs, Model_Abs2, Model_Abs2_Neg,
    so for them the network's output (logits, after Neg) is hooked too and widens the range, often below 0;
  - accuracy on the training split, in %; the notes quote the q at which it falls to half ("50% accuracy loss").
    From above, q counts from the BOTTOM of the range (v = lo + q * range: small q is a severe clamp), the
    opposite of distnet.analysis.probes.perturbation, whose fraction f lowers the ceiling from the top (q = 1 - f
    there), besides its per-unit ranges, 11 steps and the test split.
  Here the half point is interpolated linearly between grid steps, per seed and on the seed-mean curve (the
  curve the script plots). Which of the two the notes read, and whether they rounded to the 1% grid, the notes
  do not say.

The scripts define these for the paper's Linear-head models only (their hooks follow those classes), so
`author_statistics` answers for Linear-head variants and None for the distance heads.
All functions are pure functions of (model, params with a leading seed axis S, data), like distnet.analysis.stats.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from distnet.analysis import probes, stats

ACTIVE = stats.ACTIVE  # |a| above this is active (analyze_dead_nodes.py: 1e-6)
RARE = 0.01            # rarely active: active for fewer than RARE * N inputs, dead units included
STEPS = 101            # clamp thresholds at 0, 1, ..., 100 % of the layer's range
CLAMP_CHUNK = 16       # clamps evaluated per compiled call: memory S x CLAMP_CHUNK x batch x hidden floats


# --- dead and rarely active units --------------------------------------------------------------------------

def activity_counts(frac_SxU, n: int) -> dict:
    """{"dead", "rare": (S,) int counts, "units": U} of one layer from its per-unit active fractions over n
    inputs (stats.unit_activity), by the script's integer definitions: dead never active; rare active on fewer
    than 0.01 * n inputs, dead included."""
    count_SxU = np.rint(np.asarray(frac_SxU, np.float64) * n)   # exact: fractions of n < 2^24 inputs
    return {"dead": np.sum(count_SxU == 0, -1), "rare": np.sum(count_SxU < RARE * n, -1),
            "units": int(count_SxU.shape[-1])}


def summarize_counts(counts_S, units: int) -> dict:
    """The script's aggregate over runs: mean, std (ddof = 1, torch's default) and mean / units in %."""
    c = np.asarray(counts_S, np.float64)
    return {"mean": float(c.mean()), "std": float(c.std(ddof=1)) if len(c) > 1 else float("nan"),
            "pct": float(100 * c.mean() / units)}


# --- the layer clamp probe -----------------------------------------------------------------------------------

def range_layers(model) -> tuple[list[str], bool]:
    """(our layer names the script's hooks see, whether the network's output is hooked too): every ReLU/Abs
    output; the output itself where the model's class name contains "Abs" (the first layer is Abs)."""
    return ["hidden_post"] + (["output_post"] if model.spec.out_act else []), model.spec.act == "abs"


def clamp_range(model, params_S, x_NxD, batch=None):
    """(lo, hi), each (S,): the script's range, the smallest and largest value of every hooked output."""
    layers, with_output = range_layers(model)
    ranges = [probes.layer_range(model, params_S, x_NxD, layer, batch) for layer in layers]
    if with_output:
        lo_SxC, hi_SxC = probes.layer_range(model, params_S, x_NxD, "output_post", batch)
        ranges.append((-hi_SxC, -lo_SxC) if model.spec.neg else (lo_SxC, hi_SxC))   # the output is -output_post
    return np.min([lo.min(-1) for lo, _ in ranges], axis=0), np.max([hi.max(-1) for _, hi in ranges], axis=0)


@functools.partial(stats.quick_jit, static_argnums=0)
def _scalar_clamp_correct(model, params_S, lo_SxK, hi_SxK, x_BxD, y_B, mask_B):
    """(S, K) correct answers under K scalar clamps of hidden_post. vmap over the clamps leaves everything that
    does not depend on them (the first layer) unbatched, so it runs once per call, not once per clamp."""
    def one(params, lo_K, hi_K):
        def at(lo, hi):
            out_BxC = model.apply({"params": params}, x_BxD, clamp={"hidden_post": (lo, hi)})
            return mask_B @ (jnp.argmax(out_BxC, -1) == y_B).astype(jnp.float32)
        return jax.vmap(at)(lo_K, hi_K)
    return jax.vmap(one)(params_S, lo_SxK, hi_SxK)


def layer_clamp(model, params_S, x_NxD, y_N, steps=STEPS, batch=None, lo_hi=None) -> dict:
    """The script's probe: accuracy % (S, steps) with hidden_post clamped from below at v (raise the floor)
    and from above at v (lower the ceiling), v = lo + q * (hi - lo), q = linspace(0, 1, steps); and the
    unclamped accuracy % (S,). Give it the training split, as the script does. lo_hi: another range ((S,), (S,))
    than the script's `clamp_range` (for definition_steps)."""
    lo_S, hi_S = lo_hi if lo_hi is not None else clamp_range(model, params_S, x_NxD, batch)
    q = np.linspace(0.0, 1.0, steps)
    v_SxQ = (lo_S[:, None] + (hi_S - lo_S)[:, None] * q).astype(np.float32)
    inf = np.full_like(v_SxQ, np.inf)
    # one clamp that binds nothing first (the baseline), then every floor, then every ceiling
    lo_SxK = np.concatenate([-inf[:, :1], v_SxQ, -inf], axis=1)
    hi_SxK = np.concatenate([inf[:, :1], inf, v_SxQ], axis=1)
    batch = batch or max(256, stats.default_batch() // 4)
    parts = []
    for k in range(0, lo_SxK.shape[1], CLAMP_CHUNK):
        lo_c, hi_c = lo_SxK[:, k:k + CLAMP_CHUNK], hi_SxK[:, k:k + CLAMP_CHUNK]
        pad = CLAMP_CHUNK - lo_c.shape[1]        # one static shape: pad the last chunk with unclamped columns
        lo_c, hi_c = (np.pad(a, [(0, 0), (0, pad)], constant_values=c) for a, c in ((lo_c, -np.inf), (hi_c, np.inf)))
        fn = lambda p, xb, yb, mb: _scalar_clamp_correct(model, p, lo_c, hi_c, xb, yb, mb)
        parts.append(stats.reduce_batches(fn, params_S, (x_NxD, y_N), batch)[:, :CLAMP_CHUNK - pad])
    acc_SxK = 100 * np.concatenate(parts, axis=1) / len(x_NxD)
    return {"q": q, "lo": lo_S, "hi": hi_S, "clean": acc_SxK[:, 0], "below": acc_SxK[:, 1:1 + steps],
            "above": acc_SxK[:, 1 + steps:]}


def half_points(probe: dict) -> dict:
    """Where accuracy falls to half the unclamped accuracy, as q in [0, 1] of the range: from below, walking up
    from q = 0 (no clamp); from above, walking down from q = 1 (no clamp). Per seed (S,) and on the seed-mean
    curve (a scalar); NaN where it never halves. Linear interpolation between steps (probes.half_point)."""
    q = probe["q"]
    out = {}
    for side, acc_SxQ in (("below", probe["below"]), ("above", probe["above"][:, ::-1])):
        walk = q if side == "below" else 1.0 - q[::-1]     # distance from the unclamped end
        seeds = probes.half_point(walk, acc_SxQ, probe["clean"])
        mean = probes.half_point(walk, acc_SxQ.mean(0, keepdims=True), probe["clean"].mean(keepdims=True))[0]
        out[side] = {"seeds": seeds if side == "below" else 1.0 - seeds,
                     "mean_curve": mean if side == "below" else 1.0 - mean}
    return out


def definition_steps(model, params_S, ds, ours=None, batch=None) -> list[dict]:
    """Half points per seed (q of the range, NaN where a seed never halves) as distnet's definition
    (probes.perturbation on hidden_post) turns into the script's, one difference at a time: direction of "from
    above", one scalar for all units, the script's range, the training split, 101 steps. The last row is the
    script's definition, with the seed-mean curve's half points too. `ours`: analyze's probes.perturbation
    result for hidden_post, if already computed."""
    p = ours or probes.perturbation(model, params_S, ds.x_test, ds.y_test, "hidden_post", batch=batch)
    below, above_f = (probes.half_point(p["fractions"], p[w]) for w in ("below", "above"))
    rows = [{"definition": "distnet: per-unit ranges, test split, 11 steps, from above as f = (hi - ceiling) / range",
             "below": below, "above": above_f},
            {"definition": "from above as q = 1 - f = (ceiling - lo) / range, the script's direction",
             "below": below, "above": 1 - above_f}]
    lo_SxU, hi_SxU = probes.layer_range(model, params_S, ds.x_test, "hidden_post", batch)
    steps = [("one scalar bound for all units, over the layer's range (test, 11 steps)", ds.x_test, ds.y_test, 11,
              (lo_SxU.min(-1), hi_SxU.max(-1))),
             ("the script's range: every ReLU/Abs output, and the output of Abs models (test, 11 steps)",
              ds.x_test, ds.y_test, 11, None),
             ("training split (11 steps)", ds.x_train, ds.y_train, 11, None),
             ("101 steps: the script's definition (train)", ds.x_train, ds.y_train, STEPS, None)]
    for name, x, y, n, lo_hi in steps:
        probe = layer_clamp(model, params_S, x, y, n, batch, lo_hi)
        h = half_points(probe)
        rows.append({"definition": name, "below": h["below"]["seeds"], "above": h["above"]["seeds"]})
    rows[-1].update(mean_curve={w: float(h[w]["mean_curve"]) for w in ("below", "above")},
                    clean=probe["clean"], range=(probe["lo"], probe["hi"]))
    return rows


def author_statistics(model, params_S, ds, activity, perturbation=None, log=print) -> dict | None:
    """stats.json's "author" entry: the script's dead/rare counts per split and layer (from `activity`, the
    per-unit active fractions stats.unit_activity gave analyze) and the clamp half points, as definition steps.
    None for the distance heads (the scripts define neither for them)."""
    if model.spec.head != "linear":
        return None
    n = {"train": len(ds.x_train), "test": len(ds.x_test)}
    counts = {split: {layer: activity_counts(f, n[split]) for layer, f in per.items()}
              for split, per in activity.items()}
    log("  the author's clamp probe: definition steps (test, then train, 101 steps)")
    return {"activity": counts, "clamp_steps": definition_steps(model, params_S, ds, perturbation)}
