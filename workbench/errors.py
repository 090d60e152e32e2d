"""Errors and warnings of the workbench.

Every error a user can cause derives from :class:`WorkbenchError`; the CLI turns
those into a one-line message and exit code 2, anything else is a bug and keeps
its traceback. Errors carry structured fields (like ``json.JSONDecodeError``)
so tests and callers can inspect them instead of parsing messages. Every warning
derives from :class:`WorkbenchWarning`, so ``warnings.simplefilter("error",
WorkbenchWarning)`` turns all of them into errors at once.

The tree (modules that define their own leaves name them here)::

    WorkbenchError
    ├── ParseError              an input file is not what its reader expects (path, line, expected, found)
    ├── SchemaError             a frame breaks the measurement-table contract (column, expected, found)
    ├── ManifestError           an experiment manifest is inconsistent (manifest, entry)
    ├── UnknownFormatError      no reader recognises a file (lists the known formats)
    ├── machine.MachineError    the OS does not say what a producer needs (caches)
    ├── probe.ProbeError        an unusable probe option
    ├── runner.PlanError        an inconsistent plan (plan, entry)
    ├── runner.TrialFailed      a trial could not finish; runner.RunInterrupted: Ctrl-C
    └── report.ReportError      a report configuration or rendering failure

    WorkbenchWarning (a UserWarning)
    ├── NativeMetricWarning     values outside the vocabulary kept as '<source>:<name>'
    ├── AssumptionWarning       a reader assumed what the file does not say (a timezone, a CF)
    ├── ExcludedDataWarning     data left out with the reason (failed validation, disturbed runs)
    ├── RunLabelWarning         labels merge what the files kept apart (runs of several files)
    ├── readers.capture.TruncatedCaptureWarning, readers.xen_rrd.XenRrdWarning (CounterWrapWarning)
    ├── probe.ProbeWarning      a choice weakens what the probe measures
    └── stats.FlaggedRowsWarning  rows flagged as disturbed left out of a comparison
"""
from __future__ import annotations

from os import PathLike


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on bad input or usage."""


class WorkbenchWarning(UserWarning):
    """Base class of every warning the workbench gives."""


class NativeMetricWarning(WorkbenchWarning):
    """Values the metric vocabulary does not know were kept as ``<source>:<name>``."""


class AssumptionWarning(WorkbenchWarning):
    """A reader assumed something the file does not say (e.g. a CSV log's timezone)."""


class ExcludedDataWarning(WorkbenchWarning):
    """Data was left out, with the reason (e.g. a STREAM run that failed validation)."""


class RunLabelWarning(WorkbenchWarning):
    """Labels merge what the files kept apart (several files' runs become one run)."""


class ParseError(WorkbenchError):
    """An input file does not have the form its reader expects.

    Parameters
    ----------
    path : str or PathLike
        The file (or URI) being read.
    line : int, str or None
        1-based line number, or an element/field name for structured formats.
    expected : str
        What the reader expected there, stated first (``"Expecting ..."``).
    found : str
        What it found instead (shortened to 80 characters).
    """

    def __init__(self, path: str | PathLike | None, line: int | str | None,
                 expected: str, found: str):
        self.path = str(path) if path is not None else "<string>"
        self.line = line
        self.expected = expected
        self.found = _shorten(found)
        where = self.path if line is None else (
            f"{self.path}:{line}" if isinstance(line, int) else f"{self.path}: {line}")
        super().__init__(f"{where}: expected {expected}, found {self.found}")


class SchemaError(WorkbenchError):
    """A frame does not satisfy the measurement-table contract (DESIGN.md §3-4).

    Parameters
    ----------
    column : str
        The offending column.
    expected, found : str
        What the contract requires and what the frame holds.
    source : str, optional
        Where the frame came from (file or reader), when known.
    """

    def __init__(self, column: str, expected: str, found: str, source: str | None = None):
        self.column = column
        self.expected = expected
        self.found = _shorten(found)
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}column '{column}': expected {expected}, found {self.found}")


class ManifestError(WorkbenchError):
    """An experiment manifest is inconsistent or names something that does not exist.

    Parameters
    ----------
    manifest : str or PathLike
        The manifest file.
    entry : str
        The entry at fault, e.g. ``"input #3 (path = 'x.csv')"`` or ``"baseline"``.
    message : str
        What is wrong, in one line.
    """

    def __init__(self, manifest: str | PathLike, entry: str, message: str):
        self.manifest = str(manifest)
        self.entry = entry
        self.message = message
        super().__init__(f"{self.manifest}: {entry}: {message}")


class UnknownFormatError(WorkbenchError):
    """No registered reader recognises a file: the message says what the file looks like
    (`detail`), the closest formats with what each reads, how to force one, and the known
    formats.

    Parameters
    ----------
    path : str or PathLike
        The file.
    known : list of str
        Every registered format, in detection order.
    detail : str, optional
        What the file looks like ("XML with root <x>"), or why the format is unknown.
    closest : dict, optional
        Format name -> its one-line description, best first.
    """

    def __init__(self, path: str | PathLike, known: list[str], detail: str = "",
                 closest: dict[str, str] | None = None):
        self.path = str(path)
        self.known = list(known)
        self.detail = detail
        self.closest = dict(closest or {})
        extra = f" ({detail})" if detail else ""
        near = ""
        if self.closest:
            names = "; ".join(f"{name} ({what})" if what else name for name, what in self.closest.items())
            near = (f"; closest formats: {names}; if it is one of them, force it with --format NAME "
                    f"(format = \"NAME\" in a manifest) to see what that reader expects")
        super().__init__(
            f"{self.path}: format not recognised{extra}{near}; known formats: {', '.join(self.known)}")


# Every character that ends a line (str.splitlines) or moves a terminal's cursor, escaped.
_LINE_BREAKERS = {c: f"\\x{c:02x}" for c in (*range(32), 0x7F, 0x85) if c != 9}
_LINE_BREAKERS.update({10: "\\n", 13: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def _shorten(text: object, limit: int = 80) -> str:
    text = repr(text) if not isinstance(text, str) else text
    text = text.translate(_LINE_BREAKERS)  # one line on a terminal: no CR, form feed, NEL, ... either
    return text if len(text) <= limit else text[: limit - 3] + "..."
