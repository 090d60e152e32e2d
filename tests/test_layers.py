"""The layer rule (DESIGN.md §2), read from the imports of every module.

errors -> schema -> storage / readers -> experiment / machine / guards ->
capture / probe / xen_fetch / runner / workloads -> stats / calibration / thesis -> figures ->
report / notebook -> cli. A module may import its own layer and the layers below,
never above: acquisition does not import presentation, presentation does not
import acquisition, producers do not import the manifest module to write a file.
Imports inside functions count (a lazy import is still a dependency).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"

#: Top-level module or package of workbench -> layer (lowest first).
LAYERS: dict[str, int] = {
    "errors": 0, "_version": 0, "markup": 0, "nbstrip": 0, "_process": 0, "quiet": 0,
    "schema": 1, "vocabulary": 1,
    "storage": 2, "readers": 2,
    "experiment": 3, "machine": 3, "guards": 3, "store": 3,
    "capture": 4, "probe": 4, "xen_fetch": 4, "runner": 4, "workloads": 4, "lab": 4,
    "stats": 5, "levels": 5, "calibration": 5, "thesis": 5, "study": 5, "fleet": 5,  # thesis re-judges with stats
    "figures": 6,
    "report": 7, "notebook": 7,
    "cli": 8, "__main__": 8,
}
EXEMPT = {"__init__"}  # the package's public face re-exports from every layer


def top(module: str) -> str:
    """``workbench.readers.everest.cachemem`` -> ``readers``."""
    parts = module.split(".")
    if parts == ["workbench"]:
        return "__init__"
    return parts[1] if parts[0] == "workbench" else parts[0]


def imported(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, workbench module) for every import of a workbench module in `source`,
    relative imports resolved against `module` (e.g. ``workbench.readers.table``;
    `is_package` for an ``__init__.py``, whose ``.`` is itself)."""
    out = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "workbench"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x, y
                    out += [(node.lineno, f"{name}.{a.name}") for a in node.names]
                    continue
            else:
                name = node.module or ""
            if name.split(".")[0] == "workbench":
                out.append((node.lineno, name))
    return out


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Upward imports of `module` (``workbench.x.y``) found in `source`."""
    own = top(module)
    if own in EXEMPT:
        return []
    if own not in LAYERS:
        return [f"{module}: not in the layer map; add it to tests/test_layers.py LAYERS"]
    bad = []
    for line, name in imported(source, module, is_package):
        target = top(name)
        if target in EXEMPT or name.startswith("workbench.__"):
            bad.append(f"{module}:{line}: imports the package itself ({name}); import the module it needs")
        elif target not in LAYERS:
            bad.append(f"{module}:{line}: imports {name}, which is not in the layer map")
        elif LAYERS[target] > LAYERS[own]:
            bad.append(f"{module}:{line}: {own} (layer {LAYERS[own]}) imports {target} (layer {LAYERS[target]})")
    return bad


def modules() -> list[tuple[str, Path, bool]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out.append((".".join(parts[:-1] if is_package else parts), path, is_package))
    return out


def test_no_module_imports_upward():
    bad = [v for module, path, is_package in modules()
           for v in violations(path.read_text(encoding="utf-8"), module, is_package)]
    assert bad == []


def test_every_module_is_in_the_map():
    assert {top(m) for m, _, _ in modules()} - set(LAYERS) - EXEMPT == set()


# --------------------------------------------------------------------------- the test of the test


@pytest.mark.parametrize("source, module, expected", [
    # acquisition importing presentation, lazily inside a function
    ("def f():\n    from . import figures\n", "workbench.capture",
     ["workbench.capture:2: capture (layer 4) imports figures (layer 6)"]),
    # a reader importing the manifest module, absolutely
    ("import workbench.experiment as e\n", "workbench.readers.stream",
     ["workbench.readers.stream:1: readers (layer 2) imports experiment (layer 3)"]),
    # dots climb from the module's package (readers/everest.py: ".." is workbench)
    ("from ..stats import compare\n", "workbench.readers.everest",
     ["workbench.readers.everest:1: readers (layer 2) imports stats (layer 5)"]),
    ("from ... import stats\n", "workbench.readers.everest.cachemem",
     ["workbench.readers.everest.cachemem:1: readers (layer 2) imports stats (layer 5)"]),
    # downward and sideways imports are fine
    ("from . import schema, storage\nfrom .errors import ParseError\n", "workbench.readers.table", []),
    ("from .machine import default_labels\n", "workbench.probe", []),
    # the package's face is not a way around the rule
    ("import workbench\n", "workbench.stats",
     ["workbench.stats:1: imports the package itself (workbench); import the module it needs"]),
    ("from . import __version__\n", "workbench.capture",
     ["workbench.capture:1: imports the package itself (workbench.__version__); import the module it needs"]),
])
def test_the_checker_catches_upward_imports(source, module, expected):
    assert violations(source, module) == expected


def test_an_unmapped_module_is_reported():
    assert violations("x = 1\n", "workbench.newthing") == [
        "workbench.newthing: not in the layer map; add it to tests/test_layers.py LAYERS"]
