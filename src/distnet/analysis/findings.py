"""The findings ledger: one row per claim of the paper (and of the practitioner's checks), with a verdict computed
from a comparison's numbers (distnet.analysis.compare.build) by a stated rule, never typed.

Verdicts: "supported", "contradicted", "inconclusive" (the folder tests the claim but its numbers do not decide it)
and "not testable here" (the folder lacks what the claim needs; the row gives the command that would supply it).
Significance is the report's: Welch's t-test on final test accuracy over seeds, Holm-corrected over every pair
(compare.pair_rows), at ALPHA. Each row says its rule in one sentence, so a reader can check the verdict by hand.
"""
from __future__ import annotations

VERDICTS = ("supported", "contradicted", "inconclusive", "not testable here")
ALPHA = 0.05
CLAMP_TOLERANCE = 5.0    # points of the range: the notes give whole points, and seeds' half points spread by several
MAIN = ("ReLU", "Abs", "ReLU2", "Abs2", "ReLU2-Neg", "Abs2-Neg")
TEXT_ORDER = ("ReLU", "Abs2", "Abs", "ReLU2-Neg", "Abs2-Neg", "ReLU2")      # the discussion text's means, high to low
TABLE1_ORDER = ("ReLU", "ReLU2-Neg", "Abs2", "Abs", "Abs2-Neg", "ReLU2")    # Table 1's
TRAIN_MAIN = "python train.py --config configs/paper_table1.py"
ANALYZE = "python -m distnet.analysis.analyze DIR"
GAUSSIANS = ("python train.py --config configs/geometry_gaussians.py:10 --workdir runs/geometry_d10 && "
             "python -m distnet.analysis.analyze runs/geometry_d10")


BY_SIGN = {1: "supported", -1: "contradicted", 0: "inconclusive"}   # the direction a test found, read as a verdict


def unanimous(dirs) -> str:
    """Every direction +1: supported; any -1: contradicted; else inconclusive (dirs: +1 the claim's way, -1 against,
    0 not significant)."""
    return "supported" if all(x > 0 for x in dirs) else "contradicted" if any(x < 0 for x in dirs) else "inconclusive"


def row(claim: str, source: str, verdict: str, evidence: str, rule: str, command: str | None = None) -> dict:
    assert verdict in VERDICTS, verdict
    return {"claim": claim, "source": source, "verdict": verdict, "evidence": evidence, "rule": rule,
            "command": command if verdict == "not testable here" else None}


class Folder:
    """What the rules read from a comparison: the finished variants by name, their pairwise tests, the author's
    statistics and the published-number rows."""

    def __init__(self, rep: dict):
        self.rep = rep
        self.rows = {v["name"]: v for v in rep["variants"] if v["status"] == "complete"}
        self.pairs = {(p["a"], p["b"]): p for p in rep.get("pairs", [])}

    def pair(self, a: str, b: str):
        """(mean a - mean b in points, Holm-adjusted Welch p or None, n a, n b); None when not tested."""
        p = self.pairs.get((a, b)) or self.pairs.get((b, a))
        if p is None:
            return None
        sign = 1 if (p["a"], p["b"]) == (a, b) else -1
        return sign * p["diff_pct"], p["welch"].get("p_holm"), self.rows[a]["test_acc"]["n"], self.rows[b]["test_acc"]["n"]

    def direction(self, a: str, b: str) -> int:
        """+1: a significantly above b; -1: significantly below; 0: not significant or not tested."""
        t = self.pair(a, b)
        if t is None or t[1] is None or t[1] >= ALPHA:
            return 0
        return 1 if t[0] > 0 else -1

    def protocol(self, names) -> str:
        """"" when these variants ran the paper's protocol; else how this folder's differs (a verdict then holds for
        this folder's protocol only)."""
        diffs = sorted({d for r in self.rep.get("published", []) if r["name"] in names and not r["comparable"]
                        for d in r["differences"]})
        return f" (at this folder's protocol, not the paper's: {'; '.join(diffs)})" if diffs else ""

    def acc(self, name: str) -> str:
        t = self.rows[name]["test_acc"]
        return f"{name} {100 * t['mean']:.2f} +/- {100 * t['std']:.2f} (n {t['n']})"


def _p(p) -> str:
    return "n/a" if p is None else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def relu2_collapse(f: Folder) -> dict:
    claim, src = "ReLU2 (forced intensity code) collapses: far below every other main variant", "Table 1, discussion"
    rule = f"supported if ReLU2 is below every other main variant present at Holm p < {ALPHA}; contradicted if above any"
    others = [v for v in MAIN if v != "ReLU2" and v in f.rows and f.pair("ReLU2", v)]
    if "ReLU2" not in f.rows or not others:
        return row(claim, src, "not testable here", "needs ReLU2 and another main variant under one protocol", rule,
                   TRAIN_MAIN)
    dirs = [f.direction("ReLU2", v) for v in others]
    closest = max(others, key=lambda v: -f.rows[v]["test_acc"]["mean"])
    d, p, _, _ = f.pair("ReLU2", closest)
    verdict = unanimous([-x for x in dirs])     # ReLU2 below is the claim's way
    return row(claim, src, verdict, f"{f.acc('ReLU2')}; nearest {f.acc(closest)}: {d:+.2f} pp, Welch p (Holm) "
               f"{_p(p)}" + f.protocol(["ReLU2", *others]), rule)


def ordering(f: Folder, order: tuple, source: str) -> dict:
    claim = "the main variants rank " + " > ".join(order)
    rule = (f"contradicted if any pair is significantly reversed (Holm p < {ALPHA}); supported if none is and at least "
            f"half the pairs go the stated way significantly; else inconclusive")
    present = [v for v in order if v in f.rows]
    pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:] if f.pair(a, b)]
    if len(present) < 3 or not pairs:
        return row(claim, source, "not testable here", f"{len(present)} of the six main variants finished here",
                   rule, TRAIN_MAIN)
    dirs = {(a, b): f.direction(a, b) for a, b in pairs}
    reversed_ = [f"{b} > {a}" for (a, b), x in dirs.items() if x < 0]
    agree = sum(x > 0 for x in dirs.values())
    verdict = ("contradicted" if reversed_ else "supported" if agree >= len(pairs) / 2 else "inconclusive")
    ev = f"{agree} of {len(pairs)} pairs significantly in this order"
    return row(claim, source, verdict, ev + (f"; reversed: {', '.join(reversed_)}" if reversed_ else "")
               + f.protocol(present), rule)


def paper_t(f: Folder, a: str, b: str, published_t: float) -> dict:
    better = a if published_t > 0 else b
    claim = f"{better} beats {b if better == a else a} (the paper's t = {published_t:.2f}, p < 0.0001)"
    rule = f"supported if the difference has the paper's sign at Holm p < {ALPHA}; contradicted if the other sign"
    t = f.pair(a, b) if a in f.rows and b in f.rows else None
    if t is None:
        return row(claim, "results section t-test", "not testable here", f"needs {a} and {b} under one protocol",
                   rule, TRAIN_MAIN)
    x = f.direction(a, b) * (1 if published_t > 0 else -1)
    pair = f.pairs.get((a, b)) or f.pairs.get((b, a))
    welch_t = pair["welch"].get("t")
    return row(claim, "results section t-test", BY_SIGN[x],
               f"{a} - {b} = {t[0]:+.2f} pp, Welch t {'n/a' if welch_t is None else f'{welch_t:.2f}'} "
               f"(sign as {a} - {b}), p (Holm) {_p(t[1])}, n {t[2]}/{t[3]}" + f.protocol([a, b]), rule)


def published(f: Folder, version: str, names, claim: str, command: str) -> dict:
    rule = "supported if every variant run with the paper's protocol lies inside the published mean +/- 2 std"
    rows = [r for r in f.rep.get("published", []) if r["version"] == version and r["comparable"]
            and r["name"] in names]
    if not rows:
        return row(claim, version, "not testable here", "no variant here ran the paper's protocol for it", rule,
                   command)
    out = [r["name"] for r in rows if not r["inside_2std"]]
    ev = "; ".join(f"{r['name']} {r['run_mean']:.2f} vs {r['paper_mean']:.2f} +/- {r['paper_std']:.2f}" for r in rows)
    return row(claim, version, "contradicted" if out else "supported", ev, rule)


def bias_changes_nothing(f: Folder) -> dict:
    claim, src = "an output bias changes no main variant's accuracy beyond seed noise", "Table 2 against Table 1"
    rule = f"contradicted if any X-Bias differs from X at Holm p < {ALPHA}; supported if no pair does and n >= 5 each"
    pairs = [(f"{v}-Bias", v) for v in MAIN if f"{v}-Bias" in f.rows and v in f.rows and f.pair(f"{v}-Bias", v)]
    if not pairs:
        return row(claim, src, "not testable here", "needs X and X-Bias under one protocol", rule,
                   TRAIN_MAIN + " && python train.py --config configs/paper_bias.py --workdir runs/paper_table1")
    diffs = {a: f.pair(a, b) for a, b in pairs}
    moved = [a for a, b in pairs if f.direction(a, b) != 0]
    small = min(min(t[2], t[3]) for t in diffs.values()) < 5
    verdict = "contradicted" if moved else "inconclusive" if small else "supported"
    ev = "; ".join(f"{a} {t[0]:+.2f} pp (p {_p(t[1])})" for a, t in diffs.items())
    return row(claim, src, verdict, ev + f.protocol([n for pair in pairs for n in pair]), rule)


def offsetl2_beats_linear(f: Folder) -> dict:
    claim, src = "OffsetL2 output layers beat Linear ones (at equal epochs)", "Table 3"
    rule = (f"supported if every X-L2(-Neg) present beats its Linear X at Holm p < {ALPHA}; contradicted if any "
            f"loses significantly; only pairs with one protocol (epochs included) are compared")
    pairs = [(h, v) for v in ("ReLU", "Abs") for h in (f"{v}-L2", f"{v}-L2-Neg")
             if h in f.rows and v in f.rows and f.pair(h, v)]
    if not pairs:
        return row(claim, src, "not testable here", "needs an OffsetL2 variant and its Linear twin under one protocol",
                   rule, "python train.py --config configs/distance_heads.py")
    dirs = [f.direction(h, v) for h, v in pairs]
    verdict = unanimous(dirs)
    return row(claim, src, verdict, "; ".join(f"{h} - {v} {f.pair(h, v)[0]:+.2f} pp (p {_p(f.pair(h, v)[1])})"
                                              for h, v in pairs) + f.protocol([n for p in pairs for n in p]), rule)
