"""Write notebooks/01_results.ipynb, 02_distance_geometry.ipynb and 03_what_did_they_learn.ipynb (no outputs). Run: python notebooks/build_notebooks.py

The notebooks are generated so that their source stays reviewable here; edit this file, not the .ipynb.
Each notebook's first code cell holds its parameters, tagged `parameters` (papermill -p RUN_DIR DIR sets them);
tests/integration/test_notebooks.py replaces it to run against a smoke run. No cell changes the working directory.
"""
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP = '''%matplotlib inline
from pathlib import Path
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from distnet.run import folder


def find_run(run_dir):
    """RUN_DIR as given (absolute, or relative to where Jupyter started), else relative to the repository root."""
    p = Path(run_dir).expanduser()
    if p.is_absolute() or p.exists():
        return p
    root = next((d for d in (Path.cwd(), *Path.cwd().parents) if (d / "pyproject.toml").exists()), Path.cwd())
    return root / p


RUN = find_run(RUN_DIR)
assert folder.is_run_folder(RUN), f"{RUN} is not a run folder: train one with train.py"'''

RESULTS = [
    ("markdown", "# Results of a run folder\nTables and curves of every variant in `RUN_DIR` "
                 "(read through `distnet.run.folder`). Set `RUN_DIR` below; nothing is trained."),
    ("code", 'RUN_DIR = "runs/default"'),
    ("code", SETUP + "\nfrom distnet.analysis import compare, plots, render\nfrom distnet.run import summary"),
    ("code", "run = folder.load(RUN)\n"
             "display(Markdown('\\n'.join(f\"- **{v}**: {(r['summary'] or {}).get('status', 'unfinished')}\" for v, r in run.items())))\n"
             "display(Markdown(summary.summary_table([r['summary'] for r in run.values() if r['summary']])))"),
    ("markdown", "## The comparison report\nPer-variant statistics, pairwise tests and the paper's numbers "
                 "(`python -m distnet.analysis.report RUN_DIR` writes the same to disk)."),
    ("code", "rep, records = compare.build([RUN])\ndisplay(Markdown(render.markdown(rep, [])))"),
    ("markdown", "## Curves"),
    ("code", "display(plots.learning_curves(records))\ndisplay(plots.training_curves(records))\n"
             "display(plots.final_accuracy(records))\n"
             "if any(r['stats'] for r in records):\n    display(plots.dead_units(records))\n"
             "plt.close('all')"),
    ("code", "analyzed = [r for r in records if r['stats'] and 'perturbation' in r['stats']]\n"
             "if analyzed:\n    display(plots.perturbation(analyzed))\n    display(plots.noise(analyzed))\n"
             "else:\n    print('run `python -m distnet.analysis.analyze RUN_DIR` for perturbation and noise curves')\n"
             "plt.close('all')"),
]

GEOMETRY = [
    ("markdown", "# Distance geometry of one trained network\nFor the variant and seed chosen below: the "
                 "feature-space atlas, classes along first-layer units, prototypes and centres, the output layer's distance or intensity "
                 "reading, perturbation and noise curves. Read from the statistics `python -m distnet.analysis.analyze` "
                 "wrote (stats.json); whatever is missing is computed here from the checkpoint (never trained)."),
    ("code", 'RUN_DIR = "runs/default"\nVARIANT = "ReLU"\nSEED = 0'),
    ("code", SETUP + "\nimport jax\nimport numpy as np\nfrom distnet import data\nfrom distnet.analysis import analyze, plots, stats\nfrom distnet.nn import models\n"
             "vdir = folder.variant_dir(RUN, VARIANT)\nmodel = models.from_record(folder.read_config(vdir))\n"
             "params = jax.tree_util.tree_map(lambda a: a[SEED:SEED + 1], folder.load_params(vdir))  # seed axis kept\n"
             "ds = data.reload(folder.read_config(vdir), vdir)\nprint(f'{VARIANT}, seed {SEED}: {model.spec.act} first layer, {model.spec.head} output; '\n"
             "      f'{len(ds.x_train):,} training inputs of {ds.dim} features, {ds.classes} classes')\n"
             "S, K = folder.load_stats(vdir) or {}, SEED   # K: this seed's index in S\n"
             "if 'perturbation' not in S:\n"
             "    print('no stats.json: computing this seed\\'s here (`python -m distnet.analysis.analyze RUN_DIR` stores every seed\\'s)')\n"
             "    S, K = analyze.distance_statistics(model, params, ds, *stats.activity_and_geometry(model, params, ds)[1:], log=lambda *a: None), 0\n"
             "def seed_of(tree):\n"
             "    \"\"\"This seed's values as float arrays (null -> NaN).\"\"\"\n"
             "    return jax.tree_util.tree_map(lambda a: np.asarray(a, float)[K], tree, is_leaf=lambda a: isinstance(a, list))"),
    ("markdown", "## The feature space at a glance\nThis seed's hidden and output layers in 2-D: a PCA fitted on "
                 "the layer's values of every training input (each axis says the share of the variance it keeps), "
                 "training inputs coloured by class, misclassified test inputs ringed in black, class means (X), the "
                 "output layer's learned centres (stars, heads that have them), analyze's input-space prototypes "
                 "(diamonds) and, for Gaussian data, the true class means (hollow squares) and principal axes mapped "
                 "through the network. Seed agreement: how alike every seed's class-mean layout is (1 = the same "
                 "picture up to rotation and scale), so one seed's picture is not mistaken for the rule."),
    ("code", "from distnet.analysis import atlas, plots_atlas\n"
             "A = atlas.variant_atlas(vdir, ds, seed=SEED)\n"
             "display(plots_atlas.variant_figure(A)); plt.close('all')\n"
             "for layer, g in A['layers'].items():\n"
             "    print(f\"{plots.LAYER_NAMES[layer]}: PC1 and PC2 keep {g['shares'][0]:.0%} and {g['shares'][1]:.0%} \"\n"
             "          f\"of the variance; {plots_atlas.agreement_text(g['agreement'])}\")"),
    ("markdown", "## Classes along first-layer units\nPre-activations are signed distances to each unit's "
                 "hyperplane (up to the norm of its weights). Units sorted by how well they separate classes."),
    ("code", "m = seed_of(S['class_distributions'])\n"
             "sep = m['separation']\nbest = np.argsort(np.nan_to_num(sep, nan=-np.inf))[::-1]\n"
             "print('most separating units: ' + ', '.join(f'{i} (score {sep[i]:.2f})' for i in best[:5]))\n"
             "u = int(best[0])\n"
             "rows = [f'| {c} | {m[\"mean\"][c, u]:.2f} | {m[\"std\"][c, u]:.2f} | {m[\"skew\"][c, u]:.2f} |' for c in range(ds.classes)]\n"
             "display(Markdown(f'Classes along unit {u} (pre-activation):\\n\\n| class | mean | std | skew |\\n|---|---|---|---|\\n' + '\\n'.join(rows)))"),
    ("code", "h = stats.unit_histogram(model, params, ds.x_train, ds.y_train, np.array([u]), ds.classes)\n"
             "edges = np.asarray(h['edges'][0]); mid = (edges[1:] + edges[:-1]) / 2\nfig, ax = plt.subplots()\n"
             "for c, counts in enumerate(np.asarray(h['counts'][0])):\n    ax.plot(mid, counts, label=str(c))\n"
             "ax.axvline(0, color='k', lw=0.8); ax.set(xlabel=f'pre-activation of unit {u}', ylabel='inputs')\n"
             "ax.legend(title='class', ncol=2, fontsize=7); display(fig); plt.close(fig)"),
    ("markdown", "## Output layer: distance or intensity code, prototypes and centres"),
    ("code", "g = seed_of(S['output_geometry'])\n"
             "print(f\"distance-code share {g['distance_share']:.0%}, intensity-code share {g['intensity_share']:.0%}\")\n"
             "fig, ax = plt.subplots(); im = ax.imshow(g['class_means'])\n"
             "ax.set(xlabel='output unit', ylabel='class of the inputs', title='class mean of each output (before Neg)')\n"
             "fig.colorbar(im, label='mean output value'); display(fig); plt.close(fig)\n"
             "proto = seed_of(S['prototypes'])\n"
             "for k, v in proto.items():\n"
             "    v = np.atleast_1d(v)\n"
             "    print(f'{k}: ' + (np.array2string(v, precision=2, max_line_width=110) if v.size > 1 else f'{float(v[0]):.3g}'))"),
    ("markdown", "## Perturbation probes and input noise (test split)"),
    ("code", "fig, axes = plt.subplots(1, 2, figsize=(10, 4))\n"
             "for ax, layer in zip(axes, stats.POST):\n"
             "    p = S['perturbation'][layer]\n"
             "    p = {'fractions': np.asarray(p['fractions'], float), **seed_of({k: v for k, v in p.items() if k != 'fractions'})}\n"
             "    for way in ('below', 'above'):\n"
             "        ax.plot(p['fractions'], 100 * p[way], marker='.', label=f'clamp from {way}')\n"
             "        half = p[f'half_{way}']\n"
             "        print(f\"{plots.LAYER_NAMES[layer]}, clamped from {way}: accuracy halves at fraction \"\n"
             "              + (f'{half:.2f}' if np.isfinite(half) else 'never (up to 1.0)'))\n"
             "    ax.set(title=plots.LAYER_NAMES[layer], xlabel=\"f (fraction of each unit's observed range)\", ylabel='test accuracy %'); ax.legend()\n"
             "display(fig); plt.close(fig)\n"
             "n = {'scale': S['noise']['scale_of_inputs_std'], **seed_of({k: S['noise'][k] for k in ('accuracy', 'output_shift')})}\n"
             "for s, a, d in zip(n['scale'], n['accuracy'], n['output_shift']):\n"
             "    print(f'noise {s:5.2f} x input std: accuracy {100 * a:6.2f}%  mean output change {d:.3g}')"),
    ("markdown", "## Input-space prototypes and nearest-prototype explanations\nEach class's prototype is the "
                 "input the network places at its class-c prototype (definition below), found by a regularised search "
                 "in the training data's box; shown over the nearest training input. Read from prototypes.npz "
                 "(`python -m distnet.analysis.analyze RUN_DIR`), else searched here for this seed."),
    ("code", "from distnet.analysis import plots, prototypes\n"
             "saved = folder.load_prototypes(vdir)\n"
             "if saved is not None:\n"
             "    P, NEAR = saved['x'][SEED], saved['nearest'][SEED]\n"
             "else:\n"
             "    found = prototypes.find(model, params, ds.x_train)\n"
             "    P = found['x'][0]; NEAR = ds.x_train[prototypes.nearest_examples(found['x'], ds.x_train)[0]]\n"
             "print(prototypes.definition(model.spec))\n"
             "params1 = jax.tree_util.tree_map(lambda a: a[0], params)   # this seed, no seed axis\n"
             "own = [prototypes.explain(model, params1, P[c])['predicted'] for c in range(ds.classes)]\n"
             "print('prototype of class c classified as:', own, f'({np.mean(np.array(own) == np.arange(ds.classes)):.0%} its own class)')\n"
             "side = plots.image_side(ds.dim) if ds.info['name'] in plots.IMAGE_DATA else None\n"
             "if side:\n"
             "    fig, axes = plt.subplots(2, ds.classes, figsize=(ds.classes, 2.2))\n"
             "    for c in range(ds.classes):\n"
             "        for j, img in enumerate((P[c], NEAR[c])):\n"
             "            axes[j, c].imshow(img.reshape(side, side), cmap='gray'); axes[j, c].axis('off')\n"
             "        axes[0, c].set_title(f'{c}->{own[c]}', fontsize=8, color='k' if own[c] == c else 'r')\n"
             "else:   # not images: each prototype's coordinates next to its nearest training input's\n"
             "    fig, ax = plt.subplots(figsize=(7, 3))\n"
             "    ax.imshow(np.concatenate([P, NEAR]), aspect='auto'); ax.set(ylabel='prototypes, then nearest inputs', xlabel='input dimension')\n"
             "display(fig); plt.close(fig)"),
    ("code", "scale = ds.x_train.std(0) + 1e-3 * ds.x_train.std()   # input distances in units of each dimension's std\n"
             "pred = np.asarray(jax.numpy.argmax(model.apply({'params': params1}, ds.x_test), -1))\n"
             "picks = list(np.flatnonzero(pred == ds.y_test)[:3]) + list(np.flatnonzero(pred != ds.y_test)[:3])\n"
             "print('test input | label | predicted | classes ranked by the reading (value) | nearest input-space prototype (distance)')\n"
             "for i in picks:\n"
             "    e = prototypes.explain(model, params1, ds.x_test[i], P, scale)\n"
             "    ranked = ', '.join(f\"{c} ({e['reading'][c]:.3g})\" for c in e['ranked'][:4])\n"
             "    near = e['nearest_input_prototype']\n"
             "    print(f\"{i:10d} | {ds.y_test[i]:5d} | {e['predicted']:9d} | {e['reading_kind']}: {ranked}, ... | {near} ({e['input_distance'][near]:.2f})\")\n"
             "if side and picks:\n"
             "    fig, axes = plt.subplots(2, len(picks), figsize=(1.4 * len(picks), 3))\n"
             "    for k, i in enumerate(picks):\n"
             "        e = prototypes.explain(model, params1, ds.x_test[i], P, scale)\n"
             "        axes[0, k].imshow(ds.x_test[i].reshape(side, side), cmap='gray'); axes[0, k].set_title(f'{ds.y_test[i]}->{e[\"predicted\"]}', fontsize=8)\n"
             "        axes[1, k].imshow(P[e['nearest_prototype']].reshape(side, side), cmap='gray'); axes[1, k].set_title(f\"proto {e['nearest_prototype']}\", fontsize=8)\n"
             "        axes[0, k].axis('off'); axes[1, k].axis('off')\n"
             "    display(fig); plt.close(fig)"),
]


LEARNED = [
    ("markdown", "# What did the networks learn?\nThe findings ledger of `RUN_DIR` (the rows of report.md's "
                 "\"Findings\"), one question at a time, each with the figure that shows it. Every verdict is computed "
                 "from the folder's numbers by the rule in its row; a claim the folder cannot test names the command "
                 "that would make it testable. Set `RUN_DIR` below; nothing is trained."),
    ("code", 'RUN_DIR = "runs/default"'),
    ("code", SETUP + "\nfrom distnet.analysis import compare, findings, ledger, plots, plots_geometry, render_known\n"
             "rep, records = compare.build([RUN])\nrows = rep['findings']\n"
             "with_stats = [r for r in records if r['stats']]\n\n\n"
             "def show(*starts):\n"
             "    \"\"\"The ledger's rows whose claim starts with one of `starts`, as a table.\"\"\"\n"
             "    picked = [r for r in rows if r['claim'].startswith(starts)]\n"
             "    display(Markdown('\\n'.join(ledger.markdown(picked)[3:])))\n\n\n"
             "def figure(fig):\n    display(fig)\n    plt.close(fig)\n\n\n"
             "print('verdicts: ' + ', '.join(f'{sum(r[\"verdict\"] == v for r in rows)} {v}' for v in findings.VERDICTS))"),
    ("markdown", "## Does the protocol reproduce the paper's accuracies and their order?\nTable 1, the discussion "
                 "text, Table 2 and Table 3 disagree with each other; the verdicts say which one this folder's "
                 "numbers side with (at the paper's protocol, or at this folder's own, as each row says)."),
    ("code", "show(\"the main study's\", \"the bias study's\", 'the main variants rank', 'ReLU2 (forced', "
             "'ReLU2-Neg beats', 'Abs2 beats', 'an output bias', 'OffsetL2')\nfigure(plots.final_accuracy(records))"),
    ("markdown", "## Do first-layer units measure distances along the true axes?\nOnly a folder with a known "
                 "answer (synthetic Gaussians: `configs/geometry_gaussians.py`) can say; the table puts each variant "
                 "between the analytic network and an untrained one."),
    ("code", "show('trained first-layer units', 'first-layer hyperplanes')\n"
             "geometry = render_known.geometry_section(rep)\n"
             "display(Markdown('\\n'.join(geometry[1:]))) if geometry else print('no known truth in this folder')\n"
             "tracked = [r for r in with_stats if r['stats'].get('geometry_track')]\n"
             "if tracked:   # every checkpoint, from the untrained network at epoch 0\n"
             "    figure(plots_geometry.along_training(tracked))"),
    ("markdown", "## Do distance-coded outputs put their prototypes on the class means?"),
    ("code", "show('distance-coded outputs')\n"
             "images = [r for r in with_stats if 'input_prototypes' in r['stats'] and r['protocol']['data'] in plots.IMAGE_DATA\n"
             "          and folder.load_prototypes(r['dir'])]\n"
             "if images:\n    figure(plots.prototype_grid(images))\n"
             "else:\n    print('no input-space prototypes of images here: `python -m distnet.analysis.analyze RUN_DIR` finds them')"),
    ("markdown", "## Does a little input noise, or an outlier, move distance-coded outputs less?"),
    ("code", "show('small input noise', 'the distance reading')\n"
             "probed = [r for r in with_stats if 'noise' in r['stats']]\n"
             "if probed:\n    figure(plots.noise(probed))\n"
             "if any('ood' in r['stats'] for r in with_stats):\n    figure(plots.ood_auroc(records))\n"
             "if not probed:\n    print('no probes here: `python -m distnet.analysis.analyze RUN_DIR` runs them')"),
    ("markdown", "## Dead units and clamp probes against the author's notes"),
    ("code", "show('dead units', 'rarely active', 'clamp half points')\n"
             "if any('summary' in r['stats'] for r in with_stats):\n    figure(plots.dead_units(records))\n"
             "if any('perturbation' in r['stats'] for r in with_stats):\n    figure(plots.perturbation(records))"),
]


def build(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
                for kind, src in cells]
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.metadata["tags"] = ["parameters"]     # papermill -p RUN_DIR ... sets these
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"   # stable ids: rebuilding an unchanged notebook changes nothing
    return nb


if __name__ == "__main__":
    for name, cells in (("01_results", RESULTS), ("02_distance_geometry", GEOMETRY), ("03_what_did_they_learn", LEARNED)):
        nbformat.write(build(cells), HERE / f"{name}.ipynb")
        print(f"wrote notebooks/{name}.ipynb")
