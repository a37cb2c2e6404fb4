"""The paper's protocol and published test accuracies (%, mean and std over 20 runs), every version, in one place.

Transcribed from the paper (arXiv:2502.02103) and its companion repository's notes. The paper is not
self-consistent, so each variant maps to all its versions: {version: (mean, std or None, epochs)}. The figure
values are read off a plot and have no std.
"""
from __future__ import annotations

# The paper's protocol besides the epochs (per table, in PUBLISHED): MNIST, raw 0..255 pixels (the released code's
# input; the published figures match it), 20 seeds, plain SGD lr 1e-3, 128 hidden units, the full 60k/10k splits.
SEEDS = 20
PREPROCESS = "raw"
LR, HIDDEN, N_TRAIN, N_TEST = 1e-3, 128, 60000, 10000

_TABLE1 = {"ReLU": (96.62, 0.17), "Abs": (95.87, 0.22), "ReLU2": (56.31, 19.31), "Abs2": (95.95, 0.17),
           "ReLU2-Neg": (96.46, 0.17), "Abs2-Neg": (92.25, 2.07)}
_TEXT = {"ReLU": (95.64, 0.19), "Abs": (95.26, 0.19), "ReLU2": (47.20, 12.00), "Abs2": (95.35, 0.17),
         "ReLU2-Neg": (94.93, 0.15), "Abs2-Neg": (90.08, 2.56)}
_FIGURE = {"ReLU": 95.6, "Abs": 95.3, "ReLU2": 49.0, "Abs2": 95.4, "ReLU2-Neg": 95.0, "Abs2-Neg": 90.4}
_TABLE2 = {"Abs": (95.23, 0.16), "ReLU": (95.69, 0.17), "Abs2": (95.38, 0.17), "Abs2-Neg": (90.53, 2.36),
           "ReLU2": (39.94, 18.84), "ReLU2-Neg": (94.92, 0.18)}
_TABLE3 = {"ReLU-L2": (97.33, 0.13), "ReLU-L2-Neg": (97.36, 0.14), "Abs-L2": (97.61, 0.07),
           "Abs-L2-Neg": (97.56, 0.09)}


def _build() -> dict[str, dict[str, tuple]]:
    out = {}
    for v, (m, s) in _TABLE1.items():
        out[v] = {"Table 1": (m, s, 5000), "discussion text and notes": (*_TEXT[v], 5000),
                  "test-error figure (read off)": (_FIGURE[v], None, 5000)}
    for v, (m, s) in _TABLE2.items():
        # Table 3's 50,000-epoch rows for the bias models repeat Table 1's numbers.
        out[f"{v}-Bias"] = {"Table 2": (m, s, 5000), "Table 3 (bias rows, = Table 1)": (*_TABLE1[v], 50000)}
    for v, (m, s) in _TABLE3.items():
        out[v] = {"Table 3": (m, s, 50000)}
    return out


PUBLISHED: dict[str, dict[str, tuple]] = _build()


# The author's analysis notes (companion repository, paper/notes/dead_nodes.md and layer_perturbation_results.md,
# early 2025; 20 runs per model), by the released scripts' definitions (distnet.analysis.author_stats).
# Dead / rarely active: {(variant, layer): (dead mean, dead std, rare mean, rare std)} in units, layer names ours
# (hidden_post = the script's activation0, output_post = activation1). The notes give ReLU's, ReLU2's and
# ReLU2-Neg's first layer only as a percentage of 128 units and no std (None); "none" is 0 with no std.
NOTES_ACTIVITY = {
    ("ReLU", "hidden_post"): (0.0, None, 0.0047 * 128, None),
    ("ReLU", "output_post"): (0.0, None, 0.0, None),
    ("ReLU2", "hidden_post"): (0.0, None, 0.0012 * 128, None),
    ("ReLU2", "output_post"): (2.20, 1.77, 5.35, 1.53),
    ("ReLU2-Neg", "hidden_post"): (0.0, None, 0.0012 * 128, None),
    ("ReLU2-Neg", "output_post"): (0.0, None, 0.0, None),
    **{(v, layer): (0.0, None, 0.0, None) for v in ("Abs", "Abs2", "Abs2-Neg")
       for layer in ("hidden_post", "output_post")},
}
# Layer clamp probe "50% accuracy loss" points, % of the range from its bottom: {variant: (from below, from above)}.
NOTES_CLAMP = {"Abs2-Neg": (38, 35), "Abs": (35, 30), "Abs2": (15, 8), "ReLU2-Neg": (11, 1), "ReLU": (9, 1),
               "ReLU2": (8, 1)}
# The paper's own t-tests (results section, n = 20 each) on the discussion text's (mean, std):
# {(A, B): (published t, (mean A, std A), (mean B, std B))}.
PAPER_T = {("ReLU2", "ReLU2-Neg"): (-17.33, _TEXT["ReLU2"], _TEXT["ReLU2-Neg"]),
           ("Abs2", "Abs2-Neg"): (8.97, _TEXT["Abs2"], _TEXT["Abs2-Neg"])}
