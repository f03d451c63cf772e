"""The house rules, checked from the source (``ast``), so they stay true.

* One direction of data: ``windows`` at the bottom imports no other project package and
  no Faust or Kafka client, nor do the pure vendor mappings of ``connectors``; the
  webhook ``intake`` imports only ``connectors``; ``streams`` imports ``windows`` and
  ``connectors`` (its normalizer agents), ``alerts`` only ``windows`` (never each other,
  the read side or the composition root); the read side (``serve``) reads ``windows``
  and ``alerts``; nothing in the product imports the composition root.
* No import cycle between top-level packages or between files (imports inside functions
  count too: a lazy import is still a dependency).
* No function outside ``tests/`` and ``bench/`` longer than 80 lines.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import ROOT

PRODUCT = ("windows", "connectors", "streams", "intake", "alerts", "serve", "devtools",
           "supportkpi")
PROJECT = (*PRODUCT, "bench", "tests")
# package → the project packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "windows": set(),
    "connectors": set(),  # pure vendor mappings
    "streams": {"windows", "connectors"},
    "intake": {"connectors"},  # webhooks → raw topics
    "alerts": {"windows"},
    "serve": {"windows", "alerts"},
    "devtools": {"windows", "streams"},
    "supportkpi": {"windows", "connectors", "streams", "intake", "alerts", "serve",
                   "devtools"},
}
FORBIDDEN_LIBRARIES = {
    "connectors": {"faust", "kafka", "aiokafka", "mode", "redis", "aiohttp"},
    "windows": {"faust", "kafka", "aiokafka", "mode"},
    "alerts": {"faust", "kafka", "aiokafka", "mode"},
    "serve": {"faust", "kafka", "aiokafka", "mode"},
}
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PROJECT:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _project_target(name: str) -> str | None:
    """The project module an import name refers to (the longest known prefix)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in MODULES:
            return candidate
    return None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in MODULES.items():
        for name in _imports(path):
            target = _project_target(name)
            if target is not None and target != mod:
                graph[mod].add(target)
    return graph


GRAPH = _graph()


@pytest.mark.parametrize("pkg", sorted(ALLOWED))
def test_package_imports_only_what_its_room_allows(pkg: str) -> None:
    bad = []
    for mod, path in MODULES.items():
        if mod.split(".")[0] != pkg:
            continue
        for name in sorted(_imports(path)):
            top = name.split(".")[0]
            if top in PROJECT and top != pkg and top not in ALLOWED[pkg]:
                bad.append(f"{mod} imports {name}")
            if top in FORBIDDEN_LIBRARIES.get(pkg, set()):
                bad.append(f"{mod} imports {name} (no Faust or Kafka client in {pkg}/)")
    assert not bad, "\n".join(bad)


def test_nothing_in_the_product_imports_the_composition_root() -> None:
    bad = [f"{mod} imports {target}" for mod, targets in GRAPH.items()
           for target in targets
           if target.split(".")[0] == "supportkpi" and mod.split(".")[0] in
           ALLOWED.keys() - {"supportkpi"}]
    assert not bad, "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_files() -> None:
    assert _cycles(GRAPH) == []


def test_no_import_cycle_between_top_level_packages() -> None:
    tops: dict[str, set[str]] = defaultdict(set)
    for mod, targets in GRAPH.items():
        for t in targets:
            if mod.split(".")[0] != t.split(".")[0]:
                tops[mod.split(".")[0]].add(t.split(".")[0])
    assert _cycles(tops) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself can fail: a two-file loop is reported."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_function_longer_than_80_lines() -> None:
    long = []
    for mod, path in MODULES.items():
        if mod.split(".")[0] not in PRODUCT:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not long, "\n".join(long)


def test_every_product_package_is_scanned() -> None:
    found = {mod.split(".")[0] for mod in MODULES}
    assert set(PRODUCT) <= found
    assert "streams.app" in MODULES and "serve.metrics" in MODULES
    assert "windows" in GRAPH["windows.kpi"] or "windows.catalog" in GRAPH["windows.kpi"]
