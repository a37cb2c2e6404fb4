"""Compute every distance statistic of a finished run folder from its checkpoints; never retrains.

    python -m distnet.analysis.analyze DIR [--force] [--variants A,B]

Holds the folder's lock while it runs (a folder train.py is writing is refused) and writes
DIR/<variant>/stats.json atomically (read it with `distnet.run.folder.load_stats`): the summary statistics training
records (unit activity, output-geometry shares; recomputed here from the same checkpoint) and the rest: class
distributions along first-layer units, histogram data, prototypes and centres, perturbation probes and
input-noise robustness; the author's own dead-node counts and clamp probe by the released scripts' definitions
(distnet.analysis.author_stats), under "author"; then the known-answer analyses: input-space prototypes (and
DIR/<variant>/prototypes.npz), outlier AUROC against noise images (and Fashion-MNIST's test images for
MNIST-trained variants) and, where the folder records a truth (synthetic Gaussians), the geometry of the trained
and the untrained (epoch-0) networks against it, with the analytic Mahalanobis network's in
DIR/geometry_reference.json. Variants whose stats.json records their latest checkpoint's step are skipped unless
--force; diverged variants (NaN parameters) are always skipped, and so are lanes that went NaN/Inf in a variant that
finished ("lanes" lists those analyzed). A sweep's stats.json holds one entry per point under "points" (the
known-answer analyses and the author's statistics run for single-point folders only).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from pathlib import Path

import jax
import numpy as np

from distnet import data
from distnet.lanes import Lanes
from distnet.analysis import (author_stats, dataset_prototypes, geometry, geometry_track, ood, probes, prototypes,
                              stats)
from distnet.nn import models
from distnet.run import files, folder


def distance_statistics(model, params_S, ds, activity, geometry, log=print) -> dict:
    """Every statistic of stats.json but the summary ones, JSON-ready. `activity` and `geometry` are the raw
    unit activity and output geometry `stats.activity_and_geometry` already computed."""
    classes = ds.classes
    log("  class distributions along first-layer units (train)")
    moments = stats.class_moments(model, params_S, ds.x_train, ds.y_train, classes, "hidden_pre")
    sep_SxU = stats.separation(moments)
    hist = stats.unit_histogram(model, params_S, ds.x_train, ds.y_train, np.argmax(sep_SxU, -1), classes)
    log("  prototypes (train)")
    protos = stats.prototype_geometry(model, params_S, ds.x_train, ds.y_train, classes)
    clamps = {}
    for layer in stats.POST:
        log(f"  perturbation probes on {layer} (test)")
        p = probes.perturbation(model, params_S, ds.x_test, ds.y_test, layer)
        clamps[layer] = {**p, **{f"half_{w}": probes.half_point(p["fractions"], p[w]) for w in ("below", "above")}}
    log("  input-noise robustness (test)")
    scale = float(np.std(ds.x_train))
    noise = probes.noise_robustness(model, params_S, ds.x_test, ds.y_test, [scale * s for s in probes.NOISE_SCALES])
    return files.plain({"activity_fraction": activity, "class_distributions": {**moments, "separation": sep_SxU},
                        "histogram": hist, "output_geometry": geometry, "prototypes": protos, "perturbation": clamps,
                        "noise": {**noise, "scale_of_inputs_std": np.asarray(probes.NOISE_SCALES),
                                  "input_std": scale}})


def known_answers(vdir, model, params_S, ds, outliers: dict, truth: dict | None, log=print,
                  separation_SxU=None) -> dict:
    """Input-space prototypes (arrays to vdir/prototypes.npz), outlier AUROC against each set in `outliers`
    and, given the data's truth, the geometry of the trained and the untrained (epoch-0) networks; JSON-ready,
    with the seconds each part took."""
    seconds = {}
    t0 = time.perf_counter()
    log("  input-space prototypes (train box; with an image prior for images)")
    protos = prototypes.find(model, params_S, ds.x_train, y_train_N=ds.y_train)
    summ = prototypes.prototype_summary(model, params_S, ds, protos)
    near = np.asarray(summ["nearest_train_index"])
    folder.write_prototypes(vdir, protos["x"], ds.x_train[near])
    seconds["prototypes"] = time.perf_counter() - t0
    out = {"input_prototypes": summ}
    t0 = time.perf_counter()
    log("  dataset prototypes (train): strongest class readings, images at and far from hidden hyperplanes")
    out.update(dataset_prototypes.record(vdir, model, params_S, ds, protos.get("prior"), separation_SxU))
    seconds["dataset_prototypes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    log(f"  outlier scores ({', '.join(outliers)} against the test split)")
    out["ood"] = ood.ood_summary(model, params_S, ds.x_test, outliers)
    seconds["ood"] = time.perf_counter() - t0
    if truth is not None:
        t0 = time.perf_counter()
        log("  geometry against the recorded truth (trained and epoch-0 networks)")
        # chance alignment depends on the truth and the width only: geometry_reference.json holds it once
        out["geometry"] = geometry.geometry_summary(model, params_S, truth, ds, protos, chance=False)
        params_0 = folder.load_params(vdir, 0)          # the untrained network: epoch 0, never a later one
        out["geometry_untrained"] = geometry.geometry_summary(
            model, params_0, truth, ds, prototypes.find(model, params_0, ds.x_train), chance=False)
        seconds["geometry"] = time.perf_counter() - t0
    out["known_answers_s"] = seconds
    return out


def reference(workdir, vdir, ds, truth, log=print) -> dict:
    """DIR/geometry_reference.json: the analytic Mahalanobis network of the truth, scored by the same code as the
    variants (with its own input-space prototypes), chance alignment and how far the data mean sits from the
    class means; written and returned."""
    t0 = time.perf_counter()
    log("analytic Mahalanobis network of the recorded truth")
    model, params = geometry.analytic_network(truth)
    protos = prototypes.find(model, params, ds.x_train)
    hidden = models.width(Path(vdir).name, folder.read_config(vdir)["config"]["hidden"])
    widths = sorted({models.width(v, hidden) for v in folder.list_variants(workdir)} | {hidden})
    xbar = np.broadcast_to(ds.x_train.mean(0), (1, ds.classes, ds.dim))
    out = {"analytic": {**geometry.geometry_summary(model, params, truth, ds, protos, chance=False),
                        "definition": protos["definition"]},
           "chance_alignment": geometry.chance_alignment(hidden, truth), "hidden": hidden,
           "chance_by_width": {str(w): geometry.chance_alignment(w, truth) for w in widths},
           "data_mean_error": float(geometry.mahalanobis(xbar, truth).mean()), "dim": ds.dim, "classes": ds.classes}
    out["wall_time_s"] = time.perf_counter() - t0
    folder.write_reference(workdir, out)
    return out


def analyze_variant(vdir, ds, log=print, step: int | None = None, outliers: dict | None = None) -> dict:
    """All statistics of one variant's checkpoint at `step` (the latest when None); written to vdir/stats.json
    and returned. `outliers` ({name: inputs}) defaults to noise images of the training data's range."""
    t0 = time.perf_counter()
    record = folder.read_config(vdir)
    model = models.from_record(record)
    step = folder.checkpoint_steps(vdir)[-1] if step is None else step
    params_L = folder.load_params(vdir, step)
    lanes = Lanes.from_record(record)
    diverged = lanes.diverged(folder.load_metrics(vdir))
    parts, truth = [], folder.load_truth(vdir)
    # seed_chunk bounds every pass's (seeds x inputs) as it bounded training's
    with jax.default_matmul_precision(record["config"]["matmul_precision"]), \
            stats.bounded(record["config"]["seed_chunk"]):
        tracks = None if truth is None else geometry_track.track(vdir, model, lanes, diverged, truth, ds, log)
        for i, point in enumerate(lanes.points):   # per sweep point, over its lanes that finished
            keep = lanes.alive_of_point(i, diverged)
            if not keep:
                parts.append({**point, "lanes": []})
                continue
            if lanes.is_sweep:
                log(f"  point {i + 1}/{lanes.n_points}: {point}")
            params_S = jax.tree.map(lambda a: np.asarray(a)[keep], params_L) if len(keep) < len(diverged) else params_L
            log("  unit activity and output geometry (train and test)")
            summary, activity, geom = stats.activity_and_geometry(model, params_S, ds)
            part = {"summary": summary, **distance_statistics(model, params_S, ds, activity, geom, log)}
            if not lanes.is_sweep:
                author = author_stats.author_statistics(model, params_S, ds, activity,
                                                        part["perturbation"]["hidden_post"], log)
                if author is not None:
                    part["author"] = files.plain(author)
                outliers = ood.noise_images(ds.x_train, len(ds.x_test)) if outliers is None else outliers
                part.update(known_answers(vdir, model, params_S, ds, outliers, truth, log,
                                          part["class_distributions"]["separation"]))
            if tracks is not None:   # along training; a sweep point's final geometry from its last checkpoint
                part["geometry_track"] = tracks[i]
                part.setdefault("geometry", {"summary": geometry_track.last(tracks[i])})
            if len(keep) < len(diverged):
                part["lanes"] = keep
            parts.append({**point, **part} if lanes.is_sweep else part)
    out = {"variant": Path(vdir).name, "step": step,
           **(parts[0] if len(parts) == 1 else {"points": parts})}
    out["wall_time_s"] = time.perf_counter() - t0
    folder.write_stats(vdir, out)
    return out


def is_fresh(vdir, step: int, log=print) -> bool:
    """stats.json was computed from the checkpoint at `step` (by its recorded step; file times lie after copies)
    and holds every statistic this version computes (the author's, for Linear-head variants). A damaged
    stats.json is not fresh: it is about to be computed again."""
    try:
        s = folder.load_stats(vdir)
    except folder.RunFileError as e:
        if e.permission:
            raise
        log(f"{Path(vdir).name}: {e.what}; computing it again")
        return False
    if s is None or s.get("step") != step:
        return False
    if folder.load_truth(vdir) is not None and all("geometry_track" not in p for p in s.get("points", [s])):
        return False                                                            # from before geometry along training
    return ("author" in s or "points" in s                                       # (sweeps: no author)
            or models.from_record(folder.read_config(vdir)).spec.head != "linear")


def analyze(workdir, variants=None, force=False, log=print) -> list[str]:
    """Analyze every finished variant of a run folder (data loaded once per distinct data config), holding the
    folder's lock (files.Busy when another process writes it)."""
    with folder.lock(workdir, "python -m distnet.analysis.analyze"):
        return _analyze(workdir, variants, force, log)


def _analyze(workdir, variants, force, log) -> list[str]:
    cache, done, referenced = {}, [], False
    folder.require_listed(workdir)      # a variant folder that cannot be read is named, never left out
    for v in variants or folder.list_variants(workdir):
        vdir = folder.variant_dir(workdir, v)
        steps = folder.checkpoint_steps(vdir)
        if not folder.is_complete(vdir) or not steps:
            log(f"{v}: not finished (no summary.json or no checkpoint), skipping")
            continue
        if folder.read_summary(vdir)["status"] == "diverged":
            log(f"{v}: diverged (NaN/Inf parameters), skipping: its statistics would be meaningless")
            continue
        step = steps[-1]
        if not force and is_fresh(vdir, step, log):
            log(f"{v}: stats.json is up to date, skipping (--force recomputes)")
            continue
        record = folder.read_config(vdir)
        dcfg = record["config"]["data"]
        key = json.dumps(dcfg, sort_keys=True)
        if key not in cache:
            log(f"loading data for {v}")
            ds = data.reload(record, vdir)
            cache[key] = (ds, ood.outlier_sets(dcfg, ds, log=log))
        ds, outliers = cache[key]
        truth = folder.load_truth(vdir)
        if truth is not None and not referenced and (force or folder.load_reference(workdir) is None):
            reference(workdir, vdir, ds, truth, log)    # once per run: one truth per folder (preflight's rule)
            referenced = True
        log(f"{v}: analyzing checkpoint {step}")
        out = analyze_variant(vdir, ds, log, step, outliers)
        log(f"{v}: done in {out['wall_time_s']:.1f}s -> {vdir / folder.STATS_FILE}")
        done.append(v)
    return done


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m distnet.analysis.analyze", description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="a run folder written by train.py")
    ap.add_argument("--force", action="store_true", help="recompute variants whose stats.json is up to date")
    ap.add_argument("--variants", default="", help="comma list of variants (default: all)")
    args = ap.parse_args(argv)
    if not folder.is_run_folder(args.dir):
        print(f"error: {args.dir} is not a run folder (no <variant>/config.json inside); "
              f"give a folder written by train.py", file=sys.stderr)
        return 2
    variants = [v for v in args.variants.split(",") if v] or None
    unknown = sorted(set(variants or ()) - set(folder.list_variants(args.dir)))
    if unknown:
        print(f"error: no variant {', '.join(unknown)} in {args.dir}; it holds "
              f"{', '.join(folder.list_variants(args.dir))}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        done = analyze(args.dir, variants, args.force)
    except (data.DataError, files.RunFileError, files.Busy, OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        print(f"error: {files.error_text(e, args.dir)}", file=sys.stderr)
        return 2
    print(f"analyzed {len(done)} variant(s) in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    files.readable_console()
    files.quiet_orphans()
    sys.exit(main())
