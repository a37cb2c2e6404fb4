"""The notebooks run headless against a smoke run folder, and are committed without outputs."""
from __future__ import annotations

import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from helpers import ROOT

NOTEBOOKS = {"01_results": 'RUN_DIR = {run!r}',
             "02_distance_geometry": 'RUN_DIR = {run!r}\nVARIANT = "Abs2-Neg"\nSEED = 1',
             "03_what_did_they_learn": 'RUN_DIR = {run!r}'}


def _read(name):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(name):
    nb = _read(name)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source.startswith("RUN_DIR = ") and first.metadata["tags"] == ["parameters"]   # papermill's tag
    assert not any("chdir" in c.source or "sys.path" in c.source for c in nb.cells)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("name, analyzed", [("01_results", False), ("02_distance_geometry", False),
                                            ("02_distance_geometry", True), ("03_what_did_they_learn", True)])
def test_notebook_runs_against_a_smoke_run(name, analyzed, smoke_run, tmp_path):
    run = smoke_run
    if analyzed:     # 02 then reads stats.json instead of recomputing
        from distnet.analysis import analyze
        run = tmp_path / "run"
        shutil.copytree(smoke_run, run)
        assert analyze.main([str(run), "--variants", "Abs2-Neg"]) == 0
    nb = _read(name)
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = NOTEBOOKS[name].format(run=str(run))
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook drew no figure"
    # for people: no raw reprs of arrays, dicts of statuses or Paths
    assert "array(" not in text and "PosixPath(" not in text and "{'" not in text, text
    if name == "03_what_did_they_learn":     # the ledger's verdicts, each question's table, its figures
        markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
        assert text.startswith("verdicts: ") and markdown.count("| claim | source | verdict |") == 5
        assert "**not testable here**" in markdown and "configs/paper_bias.py" in markdown   # no -Bias twins here
        assert "analytic (Mahalanobis, from the truth)" in markdown      # the smoke data's truth: geometry is shown
    if name == "02_distance_geometry":
        assert "distance-code share" in text and "accuracy halves at fraction" in text
        assert "PC1 and PC2 keep" in text and "seed agreement (2 seeds): layout" in text    # it opens with the atlas
        assert ("no stats.json" in text) != analyzed


def test_a_relative_run_dir_is_found_from_the_repository_root_when_jupyter_starts_in_notebooks(smoke_run, tmp_path):
    project = tmp_path / "project"                      # a checkout's shape: pyproject.toml, notebooks/, runs/
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "runs").mkdir()
    (project / "runs" / "smoke").symlink_to(smoke_run)
    nb = _read("01_results")
    first = next(c for c in nb.cells if c.cell_type == "code")
    first.source = 'RUN_DIR = "runs/smoke"'
    NotebookClient(nb, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(project / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("**ReLU**: complete" in o.get("data", {}).get("text/markdown", "") for o in outputs)
