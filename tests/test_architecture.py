"""House rules that a reviewer would otherwise have to remember (docs/architecture.md)."""

from __future__ import annotations

import ast
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
