"""tests/helpers.record_margin and benchmarks/margins.py: the record of how close each machine-dependent comparison
came to its tolerance, gathered over runs (issue #9's "worst difference seen")."""
from __future__ import annotations

import importlib.util
import json

import pytest

from helpers import MARGINS_ENV, ROOT, record_margin


def margins_module():
    spec = importlib.util.spec_from_file_location("margins", ROOT / "benchmarks" / "margins.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_record_margin_appends_a_line_naming_this_test_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(MARGINS_ENV, raising=False)
    record_margin("nothing", 1.0, 2.0)                    # unset: writes nowhere, raises nothing
    path = tmp_path / "m.jsonl"
    monkeypatch.setenv(MARGINS_ENV, str(path))
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX")
    record_margin("loss", 3e-7, 1e-5)
    record_margin("loss", 5e-7, 1e-5)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 2 and rows[1]["observed"] == 5e-7 and rows[1]["limit"] == 1e-5
    assert rows[0]["test"].endswith("test_margins.py::test_record_margin_appends_a_line_naming_this_test_only_when_asked")
    assert rows[0]["xla_flags"] == "--xla_cpu_max_isa=AVX"


def test_gather_keeps_the_worst_ratio_per_test_and_quantity_over_runs(tmp_path, capsys):
    def run(name, rows):
        (tmp_path / name).write_text("".join(json.dumps({"xla_flags": "", **r}) + "\n" for r in rows))
        return tmp_path / name

    a = run("a.jsonl", [{"test": "t.py::f[x]", "what": "loss", "observed": 1.0, "limit": 10.0},
                        {"test": "t.py::f[y]", "what": "loss", "observed": 4.0, "limit": 10.0},
                        {"test": "t.py::g", "what": "flips", "observed": 0.0, "limit": 0.0},
                        {"test": "t.py::h", "what": "max|a-b|", "observed": 1.0, "limit": 2.0}])
    b = run("b.jsonl", [{"test": "t.py::f[x]", "what": "loss", "observed": 3.0, "limit": 5.0}])
    m = margins_module()
    worst = m.gather([a, b])
    f = worst[("t.py::f", "loss")]
    assert f["ratio"] == pytest.approx(0.6) and f["calls"] == 3 and f["runs"] == {"a.jsonl", "b.jsonl"}
    assert f["where"].startswith("b.jsonl") and f["where"].endswith(" x")
    assert worst[("t.py::g", "flips")]["ratio"] == 0.0
    assert set(m.gather([a, b], each=True)) == {("t.py::f[x]", "loss"), ("t.py::f[y]", "loss"), ("t.py::g", "flips"),
                                                ("t.py::h", "max|a-b|")}
    assert m.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "| t.py::f | loss | 3 | 5 | 0.600 | 2 (3) |" in out
    assert "| t.py::h | max\\|a-b\\| | 1 | 2 | 0.500 |" in out       # a | inside a cell is escaped for markdown
    with pytest.raises(SystemExit, match="not a file"):
        m.main([str(tmp_path / "missing.jsonl")])
