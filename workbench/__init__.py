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
from ._version import __version__ as __version__
from .errors import ManifestError, ParseError, SchemaError, UnknownFormatError, WorkbenchError
from .experiment import Dataset
from .experiment import load as load_experiment
from .experiment import open as open  # not in __all__: a star import must not shadow the builtin
from .readers import read, read_file
from .schema import validate
from .storage import read_metadata, read_table, write_table

# `open` is not in __all__: a star import must not shadow the builtin.
__all__ = ["Dataset", "ManifestError", "ParseError", "SchemaError", "UnknownFormatError", "WorkbenchError",
           "load_experiment", "read", "read_file", "read_metadata", "read_table", "validate", "write_table"]
