"""How the package is put together: the core never imports Gradio, no module imports one that imports it
back, and the page's modules stay small enough to read at once."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "whisper_ui"
CORE = ["settings", "models", "convert", "audio", "engine", "faster", "manager", "transcription", "service",
        "runtime", "status", "vad"]


def imports_of(path: Path) -> set[str]:
    """The package's modules that ``path`` imports (at any depth of the file), as dotted names."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            if node.module:
                found.add(f"{base}.{node.module}")
            else:
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("whisper_ui"):
            found.add(node.module)
    return found


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def test_no_two_modules_import_each_other():
    graph = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    pairs = sorted((a, b) for a, deps in graph.items() for b in deps if a < b and a in graph.get(b, ()))
    assert pairs == []


@pytest.mark.parametrize("name", CORE)
def test_the_core_never_imports_gradio(name):
    code = f"import sys, whisper_ui.{name}; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "False"


def test_the_page_is_a_module_per_tab_each_small():
    modules = {p.stem: len(p.read_text().splitlines()) for p in (PACKAGE / "ui").glob("*.py")}
    assert {"upload", "microphone", "model", "status", "jobs", "format", "app"} <= set(modules)
    assert max(modules.values()) <= 300, modules
