"""The report's files in an output folder: OUT/report -> OUT/.report-<time>-<pid>/ holding report.md, report.json,
report.tex and figures/*.png (python -m distnet.analysis.report), replaced together: a new folder, then one
rename of the `report` link. Written through the run folder's atomic writer (distnet.run.files)."""
from __future__ import annotations

import shutil
from pathlib import Path

from distnet.run import files

REPORT = "report"


def new_report(out):
    """Context manager yielding an empty folder for the report's files; when the block succeeds, OUT/report
    points at it (one rename) and the previous report is deleted, so the files are replaced together or not at
    all. Files an older distnet wrote straight into OUT (report.*, figures/) are removed."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in ("report.md", "report.json", "report.tex"):
        (out / old).unlink(missing_ok=True)
    if (out / "figures").is_dir() and not (out / "figures").is_symlink():
        shutil.rmtree(out / "figures")
    return files.replace_folder(out / REPORT)


def write_report(into, markdown: str, report: dict, latex: str) -> None:
    """report.json, report.tex and report.md into the folder new_report() gave."""
    files.write_json(Path(into) / "report.json", report)
    files.write_text(Path(into) / "report.tex", latex)
    files.write_text(Path(into) / "report.md", markdown)


def save_figure(into, name: str, fig, dpi: int = 110) -> Path:
    """figures/<name>.png in the folder new_report() gave, written atomically; returns its path."""
    path = Path(into) / "figures" / f"{name}.png"
    files.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
    return path


def names(rep: dict) -> set[str]:
    """The variants a report (report.json's dict) holds: finished, diverged and unfinished."""
    return {r["name"] for r in rep.get("variants", ())} | {u["name"] for u in rep.get("unfinished", ())}


def gone(out, rep: dict) -> list[str]:
    """Variants the report now in OUT/report held that `rep` lacks (their folders were deleted or moved), so a
    report is never replaced by a smaller one without saying so; [] when there is no readable previous report."""
    try:
        before = files.read_json(Path(out) / REPORT / "report.json")
    except (files.RunFileError, KeyError, TypeError):
        return []
    return sorted(names(before) - names(rep))


def with_gone(markdown: str, lost: list[str]) -> str:
    """report.md with a line after its title naming the variants a previous report held and this one lacks."""
    if not lost:
        return markdown
    title, _, rest = markdown.partition("\n")
    return (f"{title}\n\n**Not in this report although the previous report held them** (their folders were "
            f"deleted or moved out of the run folder): {', '.join(lost)}.\n{rest}")
