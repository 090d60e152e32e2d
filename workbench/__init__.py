"""workbench: what a virtualization technique costs, with evidence.

Files (EVEREST/AIDA64, XenServer RRD, captures, the thesis) become one validated
measurement table (:mod:`workbench.schema`); experiments label them
(:mod:`workbench.experiment`); figures and reports are drawn from that table.
"""
from ._version import __version__ as __version__
from .errors import ManifestError, ParseError, SchemaError, UnknownFormatError, WorkbenchError
from .experiment import load as load_experiment, read_table, write_parquet
from .readers import read
from .schema import validate

__all__ = ["ManifestError", "ParseError", "SchemaError", "UnknownFormatError", "WorkbenchError",
           "load_experiment", "read", "read_table", "validate", "write_parquet"]
