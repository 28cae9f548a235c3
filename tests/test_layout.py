"""The shape of the code (issue 23): small modules, small classes, no
import cycles. The layers are lint-imports' (pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).parent.parent / "chatroom"
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300


def test_no_module_over_500_lines_and_no_class_over_300() -> None:
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(PACKAGE.parent)
        if source.count("\n") > MAX_MODULE_LINES:
            too_big.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    too_big.append(f"{name}: class {node.name} {lines} lines")
    assert too_big == []


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph("chatroom")
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain is not None:
                cycles.append(" -> ".join((module, *chain)))
    assert cycles == []
