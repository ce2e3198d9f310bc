"""House rules that a reviewer would otherwise have to remember (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_pyplot_anywhere_in_the_product():
    for path in _python_files("bot") + _python_files("handlers"):
        assert "matplotlib.pyplot" not in _imports(path), path


def test_only_config_reads_the_environment():
    allowed = {ROOT / "bot" / "config.py"}
    for path in _python_files("bot") + _python_files("handlers"):
        if path in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "getenv" not in text, f"{path.relative_to(ROOT)} reads the environment"


def test_handlers_do_no_statistics():
    for path in _python_files("handlers"):
        bad = {n for n in _imports(path) if n.startswith("bot.analytics") or n in {"numpy", "scipy"}}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def _project_graph():
    import grimp  # import-linter's graph builder: every import statement, lazy and TYPE_CHECKING ones included

    return grimp.build_graph("bot", "handlers", cache_dir=None)


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = graph.modules
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_project_modules():
    assert _cycles(_project_graph()) == []


def test_the_cycle_check_finds_a_cycle():
    class Graph:
        def __init__(self) -> None:
            self.imports = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
            self.modules = set(self.imports)

        def find_modules_directly_imported_by(self, module: str) -> set[str]:
            return self.imports[module]

    assert _cycles(Graph()) == [["a", "b", "c"]]


def test_bot_keeps_few_loose_modules():
    loose = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(loose) <= 8, loose


def test_no_source_module_over_500_lines():
    too_long = [
        f"{path.relative_to(ROOT)}: {lines}"
        for folder in ("bot", "handlers", "bench", "tests")
        for path in _python_files(folder)
        if "migrations" not in path.parts and (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    ]
    assert too_long == []


def test_every_type_ignore_names_its_code_and_says_why():
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _python_files("bot") + _python_files("handlers")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "type: ignore" in line and not re.search(r"type: ignore\[[a-z, -]+\]  # \S", line)
    ]
    assert bare == []
