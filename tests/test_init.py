"""distnet/__init__.py states the layering: config and data, then nn, run, analysis, each importing only the
parts before it. This reads every module's imports and holds it to that (and to no import cycle)."""
from __future__ import annotations

import ast
from pathlib import Path

from helpers import SRC

PARTS = {"distnet.config": 0, "distnet.lanes": 0, "distnet.data": 1, "distnet.sources": 1, "distnet.npz": 1,
         "distnet.nn": 2, "distnet.run": 3, "distnet.analysis": 4}


def part(module: str) -> int:
    return max(rank for prefix, rank in PARTS.items() if module == prefix or module.startswith(prefix + "."))


def _is_module(name: str) -> bool:
    path = SRC / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports() -> dict[str, set[str]]:
    """{module: the distnet modules it imports}, read from the source."""
    out = {}
    for path in (SRC / "distnet").rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("distnet"):
                # `from distnet.run import folder` imports the module distnet.run.folder
                found |= {f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module
                          for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("distnet")}
        out[name] = found - {name}
    return out


def test_no_module_imports_a_part_after_its_own():
    wrong = [(m, i) for m, deps in imports().items() if m != "distnet" for i in deps if part(i) > part(m)]
    assert not wrong, wrong


def test_there_is_no_import_cycle():
    graph = imports()
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(m):] + [m])}")
        if m in seen:
            return
        stack.append(m)
        for d in graph.get(m, ()):
            visit(d)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)
