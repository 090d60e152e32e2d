"""One place for errors and warnings: every warning the library gives has a category
deriving from WorkbenchWarning, every error class from WorkbenchError (read from the
source, so a new module cannot slip past)."""
from __future__ import annotations

import ast
import importlib
import inspect
import warnings
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError, WorkbenchWarning

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"


def module_names():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            yield ".".join(parts), path


def test_every_warnings_warn_names_a_workbench_category():
    bare = []
    for name, path in module_names():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "warn"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "warnings"):
                if len(node.args) < 2 and not any(k.arg == "category" for k in node.keywords):
                    bare.append(f"{name}:{node.lineno}")
    assert bare == [], "warnings.warn without a category (UserWarning is not a workbench warning)"


@pytest.mark.parametrize("name", [n for n, _ in module_names()])
def test_warning_and_error_classes_derive_from_the_bases(name):
    module = importlib.import_module(name)
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__:
            continue
        if issubclass(cls, Warning):
            assert issubclass(cls, WorkbenchWarning), cls
        elif issubclass(cls, Exception) and not cls.__name__.startswith("_"):
            assert issubclass(cls, WorkbenchError), cls


def test_one_filter_turns_every_workbench_warning_into_an_error():
    from workbench.readers.everest import NativeMetricWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", WorkbenchWarning)
        with pytest.raises(NativeMetricWarning):
            warnings.warn("x", NativeMetricWarning, stacklevel=1)
