"""How the package is put together (ARCHITECTURE.md): each part imports only its own modules and the
parts below it, no import circle of any length, the core never imports Gradio, and the page's modules
stay small enough to read at once.

The import graph is read from the source (``ast``), every import at any depth of a file: one inside a
function is still a dependency, only a later one."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "whisper_ui"
# the parts, bottom first, as ARCHITECTURE.md draws them: a part is a folder, or modules by name
LAYERS = [
    ("core", ["whisper_ui.core"]),
    ("models", ["whisper_ui.models"]),
    ("engines", ["whisper_ui.engines"]),
    ("runtime", ["whisper_ui.runtime"]),
    ("ui", ["whisper_ui.ui"]),
    ("web", ["whisper_ui.web"]),
    ("entry points", ["whisper_ui", "whisper_ui.__main__", "whisper_ui.cli", "whisper_ui.ray_replica"]),
]
# never Gradio: everything below the page (the Ray modules import Ray, not installed everywhere)
CORE = ["core.errors", "core.settings", "core.transcription", "core.audio", "core.i18n", "core.languages", "core.logs",
        "models.sources", "models.hub", "models.convert", "models.convert_hf", "models.export_ct2", "models.hfcache",
        "engines.base", "engines.openai_whisper", "engines.faster", "engines.vad", "engines.phantoms",
        "engines.ray_backend", "runtime", "runtime.manager", "runtime.service", "runtime.status", "runtime.nvml"]


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The package's modules that ``path`` imports (at any depth of the file), as dotted names;
    ``from .x import y`` is ``x.y`` when ``y`` is a module, else ``x``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").split(".")[0] == "whisper_ui":
                target = node.module
            else:
                continue
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "whisper_ui")
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def part_of(module: str) -> int:
    """The index in ``LAYERS`` of the part that holds ``module`` (the longest prefix that names it)."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "whisper_ui" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} is in no part of LAYERS: add it to ARCHITECTURE.md and here"
    return best[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module, or one that imports itself (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_names_a_module_of_the_package():
    assert {(a, b) for a, deps in GRAPH.items() for b in deps if b not in MODULES} == set()


def test_no_import_circle_of_any_length():
    assert cycles(GRAPH) == []


def test_the_cycle_check_finds_a_long_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"e"}, "e": {"a"}, "f": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "d", "e"]]
    assert cycles({"a": {"a"}}) == [["a"]] and cycles({"a": {"b"}, "b": set()}) == []


def test_each_part_imports_only_itself_and_the_parts_below():
    upward = sorted((a, b) for a, deps in GRAPH.items() for b in deps if part_of(b) > part_of(a))
    assert upward == [], "\n".join(f"{a} ({LAYERS[part_of(a)][0]}) imports {b} ({LAYERS[part_of(b)][0]})"
                                   for a, b in upward)


def test_every_module_is_in_a_part_and_every_part_has_modules():
    assert sorted({part_of(m) for m in MODULES}) == list(range(len(LAYERS)))


def test_the_engines_do_not_import_the_replica_host():
    """The Ray front names the replica's class by its import path (``engines.ray_serve.REPLICA``): the host
    runs the manager, above the engines, and Serve's config names its ``build_app`` the same way."""
    assert "whisper_ui.ray_replica" not in {b for a, deps in GRAPH.items() if part_of(a) <= 2 for b in deps}


@pytest.mark.parametrize("name", CORE)
def test_the_core_never_imports_gradio(name):
    code = f"import sys, whisper_ui.{name}; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "False"


def test_the_page_is_a_module_per_tab_each_small():
    modules = {p.stem: len(p.read_text().splitlines()) for p in (PACKAGE / "ui").glob("*.py")}
    assert {"upload", "microphone", "model", "status", "jobs", "format", "app"} <= set(modules)
    assert max(modules.values()) <= 300, modules


MAX_FUNCTION_LINES = 80


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of each function or method in ``source``, at any depth, longer than ``limit`` lines
    (from its ``def`` to its last line) whose docstring does not say that it "reads best as one"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit and "reads best as one" not in (ast.get_docstring(node) or ""):
                found.append((node.name, lines))
    return found


def test_no_function_is_over_80_lines_unless_its_docstring_says_why():
    """A function a reader can hold at once: at most 80 lines, unless it reads best as one and says why."""
    long = {f"{name}.{function} ({lines} lines)" for name, path in MODULES.items()
            for function, lines in long_functions(path.read_text())}
    assert long == set(), "\n".join(sorted(long))


def test_the_length_check_finds_a_long_function_at_any_depth():
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    nested = "class A:\n    def m(self):\n" + body.replace("    ", "        ")
    assert long_functions("def f():\n" + body) == [("f", 81)]
    assert long_functions("async def f():\n" + body[:-len("    x79 = 79\n")]) == []
    assert long_functions(nested) == [("m", 81)]
    assert long_functions('def f():\n    """It reads best as one: why."""\n' + body) == []
