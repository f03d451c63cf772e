"""The house rules, checked from the source (``ast``), so they stay true.

* One direction of data: the KPI core ``kpi`` at the bottom imports nothing of the project
  but itself and no I/O library; ``windows`` (the Redis store) imports only ``kpi``; the
  pure vendor mappings of ``connectors`` import nothing of the project either; the webhook
  ``intake`` imports only ``connectors``; ``streams`` imports ``kpi``, ``windows`` and
  ``connectors`` (its normalizer agents), ``alerts`` only ``kpi`` and ``windows`` (never
  each other, the read side or the composition root); the read side (``serve``) reads
  ``kpi``, ``windows`` and ``alerts``; nothing in the product imports the composition root.
* ``devtools`` is imported only by the commands that are developer tools by name
  (``services``, ``simulate``, ``oracle``, ``demo``), never by the shipped CLI otherwise.
* ``bench`` and ``tests`` are harnesses: they drive the product as it runs, so they may
  import any of it (of the composition root only its settings, in ``bench``); nothing in
  the product imports them.
* No import cycle between top-level packages or between files (imports inside functions
  count too: a lazy import is still a dependency; relative imports are resolved).
* No function outside ``tests/`` and ``bench/`` longer than 80 lines; no product file longer
  than 600.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import ROOT

PRODUCT = ("kpi", "windows", "connectors", "streams", "intake", "alerts", "serve",
           "devtools", "supportkpi")
PROJECT = (*PRODUCT, "bench", "tests")
# package → the project packages it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "kpi": set(),  # what a KPI is: nothing of the project's but itself
    "windows": {"kpi"},
    "connectors": set(),  # pure vendor mappings
    "streams": {"kpi", "windows", "connectors"},
    "intake": {"connectors"},  # webhooks → raw topics
    "alerts": {"kpi", "windows"},
    "serve": {"kpi", "windows", "alerts"},
    "devtools": {"kpi", "windows", "streams"},
    "supportkpi": {"kpi", "windows", "connectors", "streams", "intake", "alerts", "serve",
                   "devtools"},
    "bench": {*PRODUCT},
}
KAFKA_AND_FAUST = {"faust", "kafka", "aiokafka", "mode", "confluent_kafka"}
FORBIDDEN_LIBRARIES = {
    "kpi": KAFKA_AND_FAUST | {"redis", "aiohttp", "asyncio", "socket", "http", "urllib",
                              "subprocess", "prometheus_client"},
    "connectors": KAFKA_AND_FAUST | {"redis", "aiohttp"},
    "windows": KAFKA_AND_FAUST,
    "alerts": KAFKA_AND_FAUST,
    "serve": KAFKA_AND_FAUST,
}
# the composition root's modules a harness outside tests/ may import
BENCH_MAY_USE_ROOT = {"supportkpi.settings"}
# the modules of the composition root that may import devtools: the developer tools by name
DEVTOOLS_USERS = {"supportkpi.cli.services", "supportkpi.cli.simulate", "supportkpi.cli.demo",
                  "supportkpi.demo"}
MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 600


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


def _package_of(path: Path) -> list[str]:
    """The dotted package a file belongs to (itself, for an ``__init__.py``)."""
    return list(path.relative_to(ROOT).parent.parts)


def _imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file, relative imports resolved against
    the file's package."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package_of(path)
                up = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                base = ".".join([*up, *([node.module] if node.module else [])])
            if base:
                names.add(base)
            names |= {f"{base}.{a.name}" if base else a.name for a in node.names}
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
                bad.append(f"{mod} imports {name} (not a library {pkg}/ may use)")
    assert not bad, "\n".join(bad)


def test_nothing_in_the_product_imports_the_composition_root() -> None:
    bad = [f"{mod} imports {target}" for mod, targets in GRAPH.items()
           for target in targets
           if target.split(".")[0] == "supportkpi" and mod.split(".")[0] in
           set(PRODUCT) - {"supportkpi"}]
    bad += [f"{mod} imports {target} (a harness may use only {sorted(BENCH_MAY_USE_ROOT)})"
            for mod, targets in GRAPH.items() for target in targets
            if mod.split(".")[0] == "bench" and target.split(".")[0] == "supportkpi"
            and target not in BENCH_MAY_USE_ROOT]
    assert not bad, "\n".join(bad)


def test_nothing_in_the_product_imports_a_harness() -> None:
    bad = [f"{mod} imports {target}" for mod, targets in GRAPH.items() for target in targets
           if mod.split(".")[0] in PRODUCT and target.split(".")[0] in ("bench", "tests")]
    assert not bad, "\n".join(bad)


def test_only_the_developer_tools_by_name_import_devtools() -> None:
    bad = [f"{mod} imports {target}" for mod, targets in GRAPH.items() for target in targets
           if mod.split(".")[0] == "supportkpi" and target.split(".")[0] == "devtools"
           and mod not in DEVTOOLS_USERS]
    assert not bad, "\n".join(bad)


def test_relative_imports_are_resolved() -> None:
    """The check itself: a relative import counts as the module it names."""
    path = ROOT / "serve" / "metrics.py"
    assert _package_of(path) == ["serve"]
    tree = ast.parse("from . import wall\nfrom ..windows.keys import Keys\n")
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            pkg = _package_of(path)
            up = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
            base = ".".join([*up, *([node.module] if node.module else [])])
            names |= {f"{base}.{a.name}" if base else a.name for a in node.names}
    assert names == {"serve.wall", "windows.keys.Keys"}


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


def test_no_product_file_longer_than_600_lines() -> None:
    long = [f"{path.relative_to(ROOT)}: {n} lines" for mod, path in MODULES.items()
            if mod.split(".")[0] in PRODUCT
            and (n := len(path.read_text().splitlines())) > MAX_FILE_LINES]
    assert not long, "\n".join(long)


def test_every_package_is_scanned() -> None:
    found = {mod.split(".")[0] for mod in MODULES}
    assert set(PROJECT) <= found
    assert "streams.app" in MODULES and "serve.metrics" in MODULES and "bench.run" in MODULES
    assert "kpi.catalog" in GRAPH["kpi.conversation"] or "kpi.events" in GRAPH["kpi.conversation"]
    assert "supportkpi.settings" in GRAPH["bench.profile_apply"]
