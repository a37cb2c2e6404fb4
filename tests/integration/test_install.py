"""The install: a folder named `distnet` in the working directory (a clone beside its runs/) cannot shadow the
package, and the package metadata ships every subpackage."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import setuptools

from helpers import ROOT, SRC

PROBE = ("import distnet, distnet.run.folder as f, distnet.nn.models as m\n"
         "print(distnet.__file__); print(f.__file__); print(m.__file__)")


def test_a_clone_named_distnet_beside_runs_does_not_shadow_the_installed_package(tmp_path):
    clone = tmp_path / "distnet"                 # what `git clone ... distnet` leaves in the working directory
    for sub in ("runs", "run", "nn", "src/distnet/run"):
        (clone / sub).mkdir(parents=True)
    (tmp_path / "runs").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    init, folder_py, models_py = r.stdout.split()
    # the installed package (this checkout's src/, installed editable by the README's command), not the clone
    assert init == str(SRC / "distnet" / "__init__.py"), r.stdout
    assert folder_py == str(SRC / "distnet" / "run" / "folder.py")
    assert models_py == str(SRC / "distnet" / "nn" / "models.py")


def test_the_package_metadata_ships_every_subpackage():
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert build["packages"]["find"]["where"] == ["src"]
    found = set(setuptools.find_packages(where=str(SRC)))
    on_disk = {".".join(p.parent.relative_to(SRC).parts) for p in SRC.rglob("__init__.py")}
    assert found == on_disk and {"distnet", "distnet.nn", "distnet.run", "distnet.analysis"} <= found
