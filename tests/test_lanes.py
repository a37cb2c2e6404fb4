"""distnet.lanes: the one layout of a variant's lanes (points x seeds, point-major), JAX-free."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distnet import config
from distnet.lanes import Lanes

SRC = Path(__file__).resolve().parents[1] / "src" / "distnet"


def sweep(seeds=3, lrs=(0.1, 0.01), weight_decays=(0.0, 1e-4)) -> Lanes:
    c = config.base()
    c.num_seeds, c.lrs, c.weight_decays = seeds, lrs, weight_decays
    return Lanes.from_config(c)


def test_lanes_are_point_major():
    lanes = sweep()
    assert (lanes.n_points, lanes.seeds, lanes.n, lanes.is_sweep) == (4, 3, 12, True)
    assert [lanes.point(i) for i in range(12)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert [lanes.seed(i) for i in range(12)] == lanes.seed_index == [0, 1, 2] * 4
    assert list(lanes.of_point(2)) == [6, 7, 8]
    assert all(lanes.lane(lanes.point(i), lanes.seed(i)) == i for i in range(lanes.n))
    assert lanes.points[1] == {"lr": 0.1, "init_scale": 1.0, "weight_decay": 1e-4}    # lr-major
    assert lanes.values("weight_decay")[:6] == [0.0] * 3 + [1e-4] * 3


def test_a_plain_run_is_a_sweep_of_one_point():
    lanes = Lanes.from_config(config.base())
    assert (lanes.n_points, lanes.n, lanes.is_sweep, lanes.swept) == (1, 20, False, [])
    assert list(lanes.of_point(0)) == list(range(20)) and lanes.seed_index == list(range(20))
    assert lanes.label(7) == "seed 7"


def test_alive_and_diverged_lanes_come_from_the_diverged_epochs():
    lanes = sweep()
    diverged = np.zeros(12, np.int64)
    diverged[[4, 6, 7, 8]] = [3, 1, 2, 5]
    assert lanes.alive(diverged).tolist() == [True] * 4 + [False] + [True] + [False] * 3 + [True] * 3
    assert lanes.alive_of_point(1, diverged) == [3, 5] and lanes.diverged_of_point(1, diverged) == [4]
    assert lanes.alive_of_point(2, diverged) == []
    assert lanes.diverged({}).tolist() == [0] * 12
    assert lanes.diverged({"diverged_epoch": diverged}) is not None


def test_labels_name_the_seed_and_the_swept_values():
    lanes = sweep()
    assert lanes.swept == ["lr", "weight_decay"]
    assert lanes.label(5) == "seed 2 at lr=0.1 wd=0.0001"
    assert lanes.point_label(2) == "lr=0.01 wd=0"


def test_the_record_round_trips_and_keeps_config_jsons_lanes_entry():
    lanes = sweep(seeds=2, lrs=(0.1, 0.01), weight_decays=(0.0,))
    record = lanes.record()
    assert record == {"axes": {"lr": [0.1, 0.01], "init_scale": [1.0], "weight_decay": [0.0]},
                      "points": [{"lr": 0.1, "init_scale": 1.0, "weight_decay": 0.0},
                                 {"lr": 0.01, "init_scale": 1.0, "weight_decay": 0.0}],
                      "seeds": 2, "order": "lane = point * seeds + seed index", "lr": [0.1, 0.1, 0.01, 0.01],
                      "init_scale": [1.0] * 4, "weight_decay": [0.0] * 4, "seed_index": [0, 1, 0, 1]}
    back = Lanes.from_record({"lanes": record})
    assert (back.points, back.seeds, back.axes, back.n) == (lanes.points, lanes.seeds, lanes.axes, lanes.n)


def test_grid_and_flat_are_inverse_and_point_major():
    lanes = sweep()
    a = np.arange(lanes.n * 2).reshape(lanes.n, 2)
    grid = Lanes.to_grid(a, lanes.n_points)
    assert grid.shape == (4, 3, 2)
    assert grid[2, 1].tolist() == a[lanes.lane(2, 1)].tolist()
    assert np.array_equal(Lanes.to_flat(grid), a)


def test_lanes_import_no_jax():
    code = "import sys, distnet.lanes; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# The lane arithmetic of the removed copies: a lane's point (// seeds), seed (% seeds), a point's first lane
# (* seeds), the lane count (num_seeds * points), the record's seeds, and the fallbacks for folders without lanes.
LANE_ARITHMETIC = [
    r"\w\)?\s+(//|%)\s+(s|S|seeds|num_seeds|cfg\.num_seeds|\w+\.seeds)\b(?!\.)",
    r"(\)|\bi|\bj|\bpoint|\blane)\s*\*\s*(s|S|seeds|num_seeds|\w+\.seeds)\b(?!\.)",
    r"\bnum_seeds\s*\*",
    r"(lanes|record)\[\"seeds\"\]",
    r"\.get\(\"lanes\"\)",
    r"lanes_record\(",
    r"for _ in range\(\w*seeds\)",
    r"shape\[0\]\s*//",
    r"shape\[0\]\s*\*\s*\w+\.shape\[1\]",
]


def _hits(path: Path) -> list[str]:
    return [f"{path.relative_to(SRC)}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1)
            if any(re.search(p, line) for p in LANE_ARITHMETIC)]


def test_lane_arithmetic_lives_in_one_module():
    elsewhere = [h for f in sorted(SRC.rglob("*.py")) if f.name != "lanes.py" for h in _hits(f)]
    assert elsewhere == [], "lane layout re-derived outside distnet/lanes.py (ask a Lanes):\n" + "\n".join(elsewhere)
    assert _hits(SRC / "lanes.py"), "the patterns no longer find the layout where it lives: update them"


@pytest.mark.parametrize("line", ["keep = [j for j in range(i * s, (i + 1) * s)]", "seed = lane % cfg.num_seeds",
                                  "point = i // lanes.seeds", "n = cfg.num_seeds * len(points)",
                                  "s = lanes[\"seeds\"]", "lanes = rec.get(\"lanes\") or x",
                                  "a.reshape((p, a.shape[0] // p))"])
def test_the_patterns_catch_each_removed_form(line):
    assert any(re.search(p, line) for p in LANE_ARITHMETIC)
