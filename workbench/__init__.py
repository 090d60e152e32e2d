"""workbench: what a virtualization technique costs, with evidence.

Files (EVEREST/AIDA64, XenServer RRD, captures, the thesis) become one validated
measurement table (:mod:`workbench.schema`); experiments label them
(:mod:`workbench.experiment`); the workbench's own Parquet is
:mod:`workbench.storage`; figures and reports are drawn from that table.

    workbench.read(path)            any input file -> validated table
    workbench.read_file(path)       the same, with the file's metadata (one parse)
    workbench.read_table(path)      a table the workbench wrote (Parquet)
    workbench.write_table(t, path)  write one, with its metadata document, atomically
    workbench.open(path)            a manifest or a stored table -> Dataset (table, baseline, title, metadata)
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .errors import ManifestError, ParseError, SchemaError, UnknownFormatError, WorkbenchError

# The face is lazy (PEP 562): `import workbench` and `workbench --help` do not load
# polars, numpy or the readers until a name that needs them is used.
_LAZY = {
    "Dataset": ("experiment", "Dataset"), "load_experiment": ("experiment", "load"), "open": ("experiment", "open"),
    "read": ("readers", "read"), "read_file": ("readers", "read_file"), "validate": ("schema", "validate"),
    "read_metadata": ("storage", "read_metadata"), "read_table": ("storage", "read_table"),
    "write_table": ("storage", "write_table"),
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from .experiment import Dataset
    from .experiment import load as load_experiment
    from .experiment import open as open  # noqa: A004
    from .readers import read, read_file
    from .schema import validate
    from .storage import read_metadata, read_table, write_table


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


# `open` is not in __all__: a star import must not shadow the builtin.
__all__ = ["Dataset", "ManifestError", "ParseError", "SchemaError", "UnknownFormatError", "WorkbenchError",
           "load_experiment", "read", "read_file", "read_metadata", "read_table", "validate", "write_table"]
