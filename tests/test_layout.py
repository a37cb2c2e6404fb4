"""The repository's layout rules: every library module stays short enough to read whole, and nothing a clone reads
points at an issue number (a clone cannot look issues up)."""
from __future__ import annotations

import re

from helpers import ROOT

MAX_LINES = 300
ISSUE = re.compile(r"\bissues? #\d+", re.IGNORECASE)


def test_every_library_module_is_at_most_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / "src" / "distnet").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, (f"modules over {MAX_LINES} lines (split them by what they own): "
                      + ", ".join(f"{p} ({n})" for p, n in long.items()))


def test_no_issue_numbers_in_what_a_clone_reads():
    paths = [ROOT / "README.md", ROOT / "train.py", *sorted((ROOT / "configs").glob("*.py")),
             *sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    found = [f"{p.relative_to(ROOT)}:{i}: {m.group(0)}" for p in paths if p.exists()
             for i, line in enumerate(p.read_text().splitlines(), 1) for m in ISSUE.finditer(line)]
    assert not found, "issue references a clone cannot read (say what the issue said instead): " + "; ".join(found)
