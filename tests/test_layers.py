"""The house rules, checked by walking every module's imports (function-level imports included):
nothing imports a higher layer, no import cycle between modules, and no bare `pipelines`/`quality`/`training`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

# Lowest first. A module may import its own layer or a lower one.
LAYERS = [
    "hala.pipelines.core", "hala.pipelines.io", "hala.pipelines.sources", "hala.pipelines.serving",
    "hala.pipelines.translate", "hala.pipelines.filters", "hala.pipelines.dedup", "hala.pipelines.bilingual",
    "hala.pipelines.flows", "hala.pipelines.cli", "hala.quality", "hala.training",
]
AREAS = {"pipelines": "hala.pipelines", "quality": "hala.quality", "training": "hala.training"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    parts[0] = AREAS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for area in AREAS for p in (REPO / area).rglob("*.py")}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def _layer(module: str) -> int | None:
    for i, layer in reversed(list(enumerate(LAYERS))):
        if module == layer or module.startswith(layer + "."):
            return i
    return None


MODULES = _modules()


def test_every_module_sits_in_a_layer():
    loose = [m for m in MODULES if _layer(m) is None and m not in ("hala.pipelines",)]
    assert not loose, f"modules outside every layer: {loose}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer_or_a_bare_name(module):
    own = _layer(module)
    bad = []
    for line, name in _imports(MODULES[module]):
        if name.split(".")[0] in AREAS:
            bad.append(f"line {line}: bare import {name}")
        target = _layer(name) if name.startswith("hala.") else None
        if own is not None and target is not None and target > own:
            bad.append(f"line {line}: {name} is above {LAYERS[own]}")
    assert not bad, f"{module}: " + "; ".join(bad)


def test_no_import_cycle_between_modules():
    graph = {m: {n for _, n in _imports(p) if n in MODULES and n != m} for m, p in MODULES.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " → ".join(cycle))
