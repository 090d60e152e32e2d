"""Render the report notebooks listed in a config file (``workbench report``).

Each ``[[report]]`` entry of the config (default ``notebooks/reports.toml``)
names a template notebook. :func:`render_reports` runs every template through
papermill into an output folder (default ``reports/``) and writes, per entry,

* ``<name>.ipynb`` -- the executed notebook (papermill records the injected
  parameters in its metadata),
* ``<name>.html`` -- a standalone page without code cells, figures embedded as
  ``data:image/png;base64`` URIs,

and finally ``index.html``, which links all of them with status, duration,
parameters and, for failures, the error. A failing notebook does not stop the
others; its result is marked failed so the CLI can exit non-zero.

Config format (paths are relative to the config file's directory)::

    [[report]]
    name = "thesis"                 # output basename
    notebook = "thesis.ipynb"       # template
    title = "Thesis 2015"           # optional, defaults to name
    alone = false                   # optional: true for a report that measures this machine by
                                    # other means than workbench.probe / workbench.capture
    [report.parameters]             # optional, passed to papermill verbatim
    experiment = "../data/experiments/thesis.toml"

Reports render in parallel (``jobs``). A report that measures this machine through
the library (:func:`workbench.probe.run`'s trials, a :class:`workbench.capture.Capture`
from start to the end of sampling) gets it to itself while it measures: the kernels of
the other reports running are paused (SIGSTOP) and no report starts until it is over
(:mod:`workbench.quiet`); the rest of that report runs beside the others. An ``alone``
report (one that measures by other means) runs with no other report of the batch
running at all. Either way the batch does not disturb what it measures (the
interference guards would flag it).

Parameter values are passed verbatim; the notebook runs with its own
directory as working directory, so relative paths in parameters resolve
against the notebook's folder.

Every output file is written under a temporary name in the output folder and
then moved into place with :func:`os.replace`, so a reader never sees a
half-written file.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
import secrets
import sys
import threading
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from tqdm import tqdm

from .errors import WorkbenchError
from .storage import atomic_write

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_OUT_DIR",
    "ReportEntry",
    "ReportError",
    "ReportResult",
    "load_config",
    "render_notebook",
    "render_reports",
    "render_source",
    "source_entry",
    "write_index",
]

#: Config read by ``workbench report`` when none is given (relative to the CWD).
DEFAULT_CONFIG = Path("notebooks/reports.toml")
#: Output folder used when none is given (relative to the CWD).
DEFAULT_OUT_DIR = Path("reports")

INDEX_NAME = "index.html"
#: The template notebooks, beside the package in the repository (``workbench report
#: SOURCE`` renders ``compare.ipynb`` from here whatever the current directory).
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# The kernel must render figures as image/png outputs. ipykernel only
# installs the inline backend when MPLBACKEND is unset, so an inherited
# MPLBACKEND=agg (the Makefile exports it) would make ``plt.show()`` silently
# drop every figure. The inline backend draws with Agg, so it is just as
# headless.
KERNEL_MPLBACKEND = "module://matplotlib_inline.backend_inline"

_ENTRY_KEYS = ("name", "notebook", "title", "parameters", "timeout", "alone")

#: Seconds one cell may run before the report is stopped and marked failed
#: (``timeout`` of an entry overrides it; the full memory probe takes about a minute).
DEFAULT_CELL_TIMEOUT = 600.0
#: Least seconds the batch waits for a kernel to start and, after a cell ended, for its
#: last outputs: a kernel paused while another report measures (quiet.py) answers when it
#: goes on. The per-cell timeout when longer (a full probe pauses the others for a minute).
PAUSE_TIMEOUT = 60


class ReportError(WorkbenchError):
    """A report config is unusable, or a name given to ``only`` is unknown.

    Parameters
    ----------
    path : str or PathLike
        The config file (or output folder) the error is about.
    entry : str or None
        The entry at fault, e.g. ``"report #2 ('thesis')"``; None when the
        error concerns the whole file.
    message : str
        What is wrong, in one line.
    """

    def __init__(self, path: str | os.PathLike, entry: str | None, message: str):
        self.path = str(path)
        self.entry = entry
        self.message = message
        where = self.path if entry is None else f"{self.path}: {entry}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ReportEntry:
    """One ``[[report]]`` entry of a config file.

    Attributes
    ----------
    name : str
        Output basename (``<name>.ipynb``, ``<name>.html``).
    notebook : Path
        Absolute path of the template notebook.
    title : str
        Human-readable title shown in the index and the HTML ``<title>``.
    parameters : dict
        Parameters injected by papermill (plain TOML values, no dates).
    timeout : float or None
        Seconds one cell may run (None: the caller's default,
        :data:`DEFAULT_CELL_TIMEOUT`).
    alone : bool
        The report measures this machine: no other report of the batch runs
        while it does.
    """

    name: str
    notebook: Path
    title: str
    # hash=False: a dict is unhashable, and entries are identified by name.
    parameters: dict = field(default_factory=dict, hash=False)
    timeout: float | None = None
    alone: bool = False


@dataclass(frozen=True)
class ReportResult:
    """Outcome of rendering one :class:`ReportEntry`.

    Attributes
    ----------
    entry : ReportEntry
        The entry rendered.
    status : str
        ``"ok"``, ``"failed"``, or ``"interrupted"`` (SIGTERM, SIGHUP or Ctrl-C while it
        ran; reports after it are not rendered and not listed).
    ipynb, html : Path or None
        The executed notebook and its HTML page, None when not produced
        (a failed run still keeps whatever could be saved).
    seconds : float
        Wall-clock time of execution plus conversion.
    error : str or None
        ``"<ExceptionName>: <message>"`` for failures, else None.
    headline : str or None
        The one-line result the notebook recorded with :func:`workbench.notebook.headline`.
    stderr : str
        What the kernel process and the executor wrote to stderr (a kernel
        that died, C code writing to file descriptor 2), kept here instead of
        reaching the caller's terminal; shown in the index and the page.
    """

    entry: ReportEntry
    status: str
    ipynb: Path | None
    html: Path | None
    seconds: float
    error: str | None
    stderr: str = ""
    headline: str | None = None  #: the report's one-line result (notebook.headline), for the index

    @property
    def ok(self) -> bool:
        """True when the notebook ran without error and its HTML was written."""
        return self.status == "ok"


# --------------------------------------------------------------------------- config


def load_config(path: str | os.PathLike = DEFAULT_CONFIG) -> list[ReportEntry]:
    """Read and validate a report config file.

    Parameters
    ----------
    path : str or PathLike
        The TOML config; notebook paths inside are relative to its directory.

    Returns
    -------
    list of ReportEntry
        The entries in file order.

    Raises
    ------
    ReportError
        If the file is missing or not valid TOML, has no ``[[report]]``
        entries, or an entry lacks ``name``/``notebook``, has an unknown key,
        a name that is not a plain file name or repeats another, a notebook
        that does not exist, or parameters that papermill cannot inject.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ReportError(path, None, "config file not found") from None
    except IsADirectoryError:
        raise ReportError(path, None, "is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ReportError(path, None, f"cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ReportError(path, None, f"not UTF-8 text ({exc.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReportError(path, None, f"invalid TOML: {exc}") from None

    unknown = sorted(set(data) - {"report"})
    if unknown:
        # Catches typos such as [[reports]], which would otherwise be ignored.
        raise ReportError(path, None, f"unknown top-level key(s) {_quoted(unknown)}; "
                                      "expected [[report]] tables")
    raw_entries = data.get("report")
    if raw_entries is None or raw_entries == []:
        raise ReportError(path, None, "no [[report]] entries")
    if not isinstance(raw_entries, list) or not all(isinstance(e, dict) for e in raw_entries):
        raise ReportError(path, None, "'report' must be an array of tables ([[report]])")

    base = path.parent
    entries: list[ReportEntry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_entries, start=1):
        entry = _parse_entry(path, base, number, raw)
        # casefold: on case-insensitive file systems 'A' and 'a' would
        # overwrite each other's outputs.
        key = entry.name.casefold()
        if key in seen:
            raise ReportError(path, _label(number, entry.name),
                              f"duplicate name (also report #{seen[key]})")
        seen[key] = number
        entries.append(entry)
    return entries


def _parse_entry(path: Path, base: Path, number: int, raw: dict) -> ReportEntry:
    name = raw.get("name")
    label = _label(number, name if isinstance(name, str) else None)

    def fail(message: str) -> ReportError:
        return ReportError(path, label, message)

    unknown = sorted(set(raw) - set(_ENTRY_KEYS))
    if unknown:
        raise fail(f"unknown key(s) {_quoted(unknown)}; allowed: {', '.join(_ENTRY_KEYS)}")
    if name is None:
        raise fail("missing 'name'")
    if not isinstance(name, str) or not name.strip():
        raise fail("'name' must be a non-empty string")
    if any(sep in name for sep in ("/", "\\", "\0")) or name.startswith("."):
        raise fail(f"name {name!r} must be a plain file name "
                   "(no path separators, not starting with '.')")
    if name.casefold() == Path(INDEX_NAME).stem:
        raise fail(f"name {name!r} is reserved for the index page")

    notebook = raw.get("notebook")
    if notebook is None:
        raise fail("missing 'notebook'")
    if not isinstance(notebook, str) or not notebook:
        raise fail("'notebook' must be a non-empty string")
    # abspath, not resolve(): keep the user's symlinks, but make the path
    # independent of the CWD, because papermill chdirs into the notebook's folder.
    notebook_path = Path(os.path.abspath(base / notebook))
    if not notebook_path.is_file():
        raise fail(f"notebook {notebook!r} not found")

    title = raw.get("title", name)
    if not isinstance(title, str):
        raise fail("'title' must be a string")

    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout < float("inf")):
        raise fail(f"'timeout' must be a positive number of seconds, not {timeout!r}")

    alone = raw.get("alone", False)
    if not isinstance(alone, bool):
        raise fail(f"'alone' must be true or false, not {alone!r}")

    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict):
        raise fail("'parameters' must be a table ([report.parameters])")
    for key, value in parameters.items():
        problem = _unsupported_value(value)
        if problem:
            raise fail(f"parameter {key!r}: {problem}")
    return ReportEntry(name=name, notebook=notebook_path, title=title,
                       parameters=dict(parameters), timeout=None if timeout is None else float(timeout),
                       alone=alone)


def _unsupported_value(value: object) -> str | None:
    """Why papermill cannot inject ``value``, or None if it can.

    TOML dates and times would be injected as strings but then break the
    JSON notebook metadata where papermill records the parameters.
    """
    if isinstance(value, dict):
        for item in value.values():
            problem = _unsupported_value(item)
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for item in value:
            problem = _unsupported_value(item)
            if problem:
                return problem
        return None
    if isinstance(value, (str, bool, int, float)):
        return None
    return f"{type(value).__name__} values are not supported; quote it as a string"


def _label(number: int, name: str | None) -> str:
    return f"report #{number}" if name is None else f"report #{number} ({name!r})"


def _quoted(keys: Sequence[str]) -> str:
    return ", ".join(repr(k) for k in keys)


# --------------------------------------------------------------------------- rendering


def render_reports(config: str | os.PathLike = DEFAULT_CONFIG,
                   out_dir: str | os.PathLike = DEFAULT_OUT_DIR, *,
                   only: Sequence[str] | None = None,
                   progress: bool = True,
                   timeout: float | None = DEFAULT_CELL_TIMEOUT,
                   jobs: int | None = None) -> list[ReportResult]:
    """Render every report of a config file, then write ``index.html``.

    Parameters
    ----------
    config : str or PathLike
        The report config (see the module docstring).
    out_dir : str or PathLike
        Output folder; created if missing.
    only : sequence of str, optional
        Render just these entry names (in config order). The index then
        lists only these.
    progress : bool
        Show a tqdm progress bar on stderr.
    timeout : float or None
        Seconds one cell may run (an entry's ``timeout`` overrides it); a cell
        that runs longer fails its report and the next one starts. None: no limit.
    jobs : int, optional
        How many reports render at the same time, each in its own kernel (default
        :func:`default_jobs`, the CPUs this process may use). 1 renders them one
        after the other, as does any number where `flock` is missing (not POSIX:
        :mod:`workbench.quiet`). The outputs are the same either way; only the timing
        metadata (papermill's start and end times) differs.

    Returns
    -------
    list of ReportResult
        One per rendered entry, in config order; check ``all(r.ok for r in results)``.

    Raises
    ------
    ReportError
        For config errors, unknown names in ``only``, or an output folder
        that cannot be created. Notebook failures do not raise; they are
        reported in the results and the index.
    KeyboardInterrupt
        On Ctrl-C or SIGTERM (turned into KeyboardInterrupt while rendering):
        the reports being rendered leave no temporary file (their kernels are
        stopped), and the index is written first, listing what finished and the
        interrupted reports; reports not yet started are not listed.
    """
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"`jobs` must be a positive integer, not {jobs!r}")
    entries = load_config(config)
    if only is not None:
        known = {e.name for e in entries}
        missing = [n for n in only if n not in known]
        if missing:
            raise ReportError(config, None, f"no report named {_quoted(missing)}; "
                                            f"known: {', '.join(sorted(known))}")
        wanted = set(only)
        entries = [e for e in entries if e.name in wanted]

    out = _prepare_out_dir(out_dir)
    from . import quiet

    # Without flock (not POSIX) a measurement could not have the machine to itself: one at a time.
    if jobs > 1 and len(entries) > 1 and quiet.available():
        return _render_parallel(entries, out, timeout=timeout, jobs=min(jobs, len(entries)), progress=progress)
    results: list[ReportResult] = []
    current: ReportEntry | None = None
    started = 0.0
    try:
        with _sigterm_as_interrupt(), tqdm(entries, desc="reports", unit="report", file=sys.stderr,
                                           disable=not progress) as bar:
            for entry in bar:
                current, started = entry, time.perf_counter()
                bar.set_postfix_str(entry.name)
                results.append(render_notebook(entry, out, timeout=timeout))
                current = None
    except KeyboardInterrupt:
        if current is not None:
            results.append(ReportResult(entry=current, status="interrupted", ipynb=None, html=None,
                                        seconds=time.perf_counter() - started,
                                        error=_INTERRUPTED))
        raise
    finally:
        # On every way out: the index lists what exists (a second signal while it
        # is written leaves the old index, never half of a new one).
        write_index(results, out)
    return results


def default_jobs() -> int:
    """How many reports :func:`render_reports` renders at once by default: the CPUs
    this process may run on (its affinity mask, not the machine's count)."""
    count = getattr(os, "process_cpu_count", None)  # Python >= 3.13
    if count is not None:
        return count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


#: Why a report that was running when the user stopped ``workbench report`` has no outputs.
_INTERRUPTED = "interrupted (SIGTERM, SIGHUP or Ctrl-C) while rendering"


def _render_parallel(entries: Sequence[ReportEntry], out: Path, *, timeout: float | None, jobs: int,
                     progress: bool) -> list[ReportResult]:
    """:func:`render_reports` with `jobs` worker threads, each driving its own kernel
    (a separate process, so the notebooks really run at the same time; the threads
    only wait for them and convert their outputs).

    On Ctrl-C or SIGTERM (in this, the main thread) every running kernel is killed,
    which ends its worker's papermill run at once; the workers then discard their
    notebooks and the index lists the finished and the interrupted reports."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from . import quiet

    cancel = _Cancel()
    gate = _Gate(cancel)
    batch = quiet.Batch()
    done: dict[str, ReportResult] = {}
    running: dict[str, float] = {}  # name -> perf_counter at its start

    def work(entry: ReportEntry) -> ReportResult | None:
        with gate.hold(alone=entry.alone):
            if cancel.is_set():
                return None
            hold = batch.hold()
            try:
                # No report starts while a measurement waits or runs (quiet.py).
                if not hold.enter(cancel.is_set):
                    return None
                running[entry.name] = time.perf_counter()
                return render_notebook(entry, out, timeout=timeout, cancel=cancel, quiet=hold)
            finally:
                hold.close()

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="workbench-report")
    try:
        with _sigterm_as_interrupt(), tqdm(total=len(entries), desc="reports", unit="report", file=sys.stderr,
                                           disable=not progress) as bar:
            pending = {pool.submit(work, entry): entry for entry in entries}
            try:
                while pending:
                    # A timeout, so that a signal is handled within a second whatever the platform.
                    finished, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in finished:
                        entry = pending.pop(future)
                        result = future.result()
                        if result is not None:
                            done[entry.name] = result
                            bar.set_postfix_str(entry.name)
                        bar.update()
            except KeyboardInterrupt:
                cancel.set()  # kills the kernels: each worker returns within moments
                pool.shutdown(wait=True, cancel_futures=True)
                for future, entry in pending.items():
                    if future.done() and not future.cancelled() and future.exception() is None:
                        result = future.result()
                        if result is not None:
                            done[entry.name] = result
                    elif entry.name in running and entry.name not in done:
                        done[entry.name] = ReportResult(entry=entry, status="interrupted", ipynb=None, html=None,
                                                        seconds=time.perf_counter() - running[entry.name],
                                                        error=_INTERRUPTED)
                raise
    finally:
        cancel.set()  # no kernel outlives the call, whatever left this function
        pool.shutdown(wait=True, cancel_futures=True)
        batch.close()
        # On every way out: the index lists what exists, in config order.
        results = [done[e.name] for e in entries if e.name in done]
        write_index(results, out)
    return results


class _Gate:
    """Who may render now: any number of shared reports, or one ``alone`` report and
    nothing else. An alone report waits for the running ones to finish and, once it
    waits, no new shared report starts (it is not starved). Waiting ends on cancel."""

    def __init__(self, cancel: "_Cancel") -> None:
        self._cond = threading.Condition()
        self._cancel = cancel
        self._shared = 0
        self._alone = False
        self._waiting_alone = 0

    @contextmanager
    def hold(self, *, alone: bool) -> Iterator[None]:
        with self._cond:
            if alone:
                self._waiting_alone += 1
                while (self._alone or self._shared) and not self._cancel.is_set():
                    self._cond.wait(0.2)
                self._waiting_alone -= 1
                self._alone = True
            else:
                while (self._alone or self._waiting_alone) and not self._cancel.is_set():
                    self._cond.wait(0.2)
                self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                if alone:
                    self._alone = False
                else:
                    self._shared -= 1
                self._cond.notify_all()


class _Cancel:
    """Stops the kernels of :func:`render_notebook` calls running in other threads.

    :meth:`set` kills every kernel adopted so far (each kernel leads its own
    process group) and any adopted later, so a kernel still starting up when the
    user stops is not missed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._kernels: list = []  # subprocess.Popen of each kernel

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            kernels, self._kernels = self._kernels, []
        for process in kernels:
            _kill_group(process)

    def adopt(self, process) -> None:
        with self._lock:
            if not self._set:
                self._kernels.append(process)
                return
        _kill_group(process)


def _kill_group(process) -> None:
    import signal

    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)  # jupyter_client starts kernels in a new session
    except (ProcessLookupError, PermissionError):  # pragma: no cover - it ended meanwhile
        pass


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: clean up, write the index, stop."""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While rendering, SIGTERM and SIGHUP (the terminal or the ssh session closed)
    raise :class:`_Terminated` (a KeyboardInterrupt) instead of killing the process
    before it cleans up: kernels paused by another report's measurement (quiet.py) are
    continued or killed then, never left stopped. A SIGHUP ignored on entry (``nohup``)
    stays ignored. Only in the main thread (signal handlers cannot be set elsewhere)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated(signal.Signals(signum).name)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)  # no SIGHUP on Windows
        if signum is None or (name == "SIGHUP" and signal.getsignal(signum) is signal.SIG_IGN):
            continue
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)


def render_notebook(entry: ReportEntry, out_dir: str | os.PathLike, *,
                    timeout: float | None = DEFAULT_CELL_TIMEOUT, cancel: _Cancel | None = None,
                    quiet=None) -> ReportResult:
    """Execute one entry with papermill and convert it to HTML.

    Parameters
    ----------
    entry : ReportEntry
        The report to render.
    out_dir : str or PathLike
        Output folder; created if missing.
    timeout : float or None
        Seconds one cell may run unless the entry sets its own ``timeout``;
        None: no limit.
    cancel : _Cancel, optional
        Lets another thread stop the kernel (:func:`render_reports` with several
        jobs); the result is then ``"interrupted"`` and nothing is written.
    quiet : workbench.quiet.Hold, optional
        The batch's hold of the machine for this report, entered (:func:`render_reports`
        with several jobs): the kernel learns where to ask for the machine when it
        measures, the hold is handed over when it asks, and taken back to write the page.

    Returns
    -------
    ReportResult
        ``status == "failed"`` if execution or conversion raised; the
        partially executed notebook (and its HTML, if it converts) is still
        saved. Outputs of an earlier run that this run could not replace are
        removed, so the folder never mixes old pages with a new index. The
        kernel's stderr is in ``stderr``, not on the caller's.
    """
    # Imported here: papermill and nbconvert take a while to import, and the
    # CLI (and config checking) should not pay for that when not rendering.
    import tempfile

    _skip_iri_grammar()
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    out = _prepare_out_dir(out_dir)
    final_ipynb = out / f"{entry.name}.ipynb"
    final_html = out / f"{entry.name}.html"
    # papermill saves the notebook repeatedly while it runs, so it writes to
    # a temporary name; the '.ipynb' suffix keeps papermill's I/O handler happy.
    tmp_ipynb = out / f".{entry.name}.{secrets.token_hex(4)}.tmp.ipynb"
    limit = entry.timeout if entry.timeout is not None else timeout
    if limit is not None:
        limit = math.ceil(limit)  # nbclient counts whole seconds
    waits = max(PAUSE_TIMEOUT, limit) if limit is not None else 24 * 3600

    error: str | None = None
    ipynb: Path | None = None
    html_path: Path | None = None
    headline: str | None = None
    start = time.perf_counter()
    # The kernel's stderr (fd 2) and the executor's log go to this file, never to ours.
    with tempfile.TemporaryFile(buffering=0) as kernel_stderr:
        _append_only(kernel_stderr.fileno())  # the kernel and our log write to it in turn
        try:
            try:
                with _executor_log(kernel_stderr), _watching(quiet):
                    papermill.execute_notebook(
                        str(entry.notebook), str(tmp_ipynb),
                        parameters=dict(entry.parameters),
                        kernel_name="python3",
                        # The kernel's working directory, given to the kernel alone: papermill's
                        # own cwd= would chdir this whole process, which other reports share.
                        resources={"metadata": {"path": str(entry.notebook.parent)}},
                        log_output=False,
                        progress_bar=False,
                        report_mode=False,
                        execution_timeout=limit,
                        # nbclient's per-cell timestamps repeat papermill's start and end
                        # times; without them only papermill's timing differs between runs.
                        record_timing=False,
                        # A kernel paused while another report measures (quiet.py) may have
                        # sent a cell's reply but not yet its last outputs: wait for them, and
                        # fail rather than lose one (nbclient's default: 4 s, then go on).
                        start_timeout=waits,
                        iopub_timeout=waits,
                        raise_on_iopub_timeout=True,
                        engine_name=_engine_name(),
                        **_kernel_engine_kwargs(kernel_stderr.fileno(), cancel, quiet),
                    )
            except PapermillExecutionError as exc:
                error = f"{exc.ename}: {exc.evalue}"
            except CellTimeoutError as exc:
                if "IOPub" in str(exc):
                    error = (f"CellTimeoutError: a cell's outputs did not arrive within {waits} s "
                             "of its end")
                else:
                    error = (f"CellTimeoutError: a cell ran longer than {limit:g} s (the per-cell timeout; "
                             "'timeout' in the report's entry changes it)")
            except Exception as exc:  # noqa: BLE001 - any failure must not stop the other reports
                error = _describe(exc)

            # The page is written under the batch's hold again (the kernel had it while it measured).
            if (cancel is not None and cancel.is_set()) or (
                    quiet is not None and not quiet.held
                    and not quiet.enter(lambda: cancel is not None and cancel.is_set())):
                seconds = time.perf_counter() - start
                return ReportResult(entry=entry, status="interrupted", ipynb=None, html=None, seconds=seconds,
                                    error=_INTERRUPTED)
            kernel_stderr.seek(0)
            stderr = "\n".join(line for line in kernel_stderr.readall().decode("utf-8", "replace").splitlines()
                               if line.strip() not in _SHUTDOWN_NOISE).strip()
            if tmp_ipynb.exists():
                try:
                    nb = nbformat.read(tmp_ipynb, as_version=4)
                    headline = _headline(nb)
                    # papermill recorded the temporary name; record where it lives.
                    nb.metadata.setdefault("papermill", {})["output_path"] = str(final_ipynb)
                    _stable_cell_ids(nb)
                    atomic_write(final_ipynb, nbformat.writes(nb))
                    ipynb = final_ipynb
                    atomic_write(final_html, _notebook_html(nb, entry.title, stderr.splitlines()))
                    html_path = final_html
                except Exception as exc:  # noqa: BLE001
                    if error is None:
                        stage = "HTML conversion" if ipynb is not None else "saving the notebook"
                        error = f"{stage} failed: {_describe(exc)}"
            elif error is None:  # pragma: no cover - papermill always saves on success
                error = "papermill produced no notebook"
        finally:
            tmp_ipynb.unlink(missing_ok=True)
    seconds = time.perf_counter() - start

    for produced, stale in ((ipynb, final_ipynb), (html_path, final_html)):
        if produced is None:
            stale.unlink(missing_ok=True)
    return ReportResult(entry=entry, status="ok" if error is None else "failed",
                        ipynb=ipynb, html=html_path, seconds=seconds, error=error, stderr=stderr,
                        headline=headline)


def _skip_iri_grammar() -> None:
    """Keep jsonschema (imported by nbformat) from importing ``rfc3987_syntax``.

    Where that package is installed (``make lab`` brings it: jupyter_server ->
    jupyter-events -> jsonschema[format-nongpl]), jsonschema imports it to register an
    ``iri`` format check, and the import builds a Lark grammar: 1.6-2.5 s here, before the
    first kernel of a batch can start. Notebook validation checks no formats, so the
    check is never used here; without the package jsonschema simply leaves it out, and
    this makes the import fail the same way. Only when nothing imported jsonschema yet."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


#: Cells papermill adds, by tag -> the id they get instead of papermill's random one.
_ADDED_CELLS = {"injected-parameters": "injected-parameters", "papermill-error-cell-tag": "papermill-error"}


def _stable_cell_ids(nb) -> None:
    """Give the cells papermill added (the injected parameters, the error markers)
    ids that depend on the notebook alone, not on a random number: the same report
    renders to the same notebook and page (cell ids are in the HTML), whether
    rendered alone, in parallel or again."""
    taken = {cell.get("id") for cell in nb.cells if not set(cell.get("metadata", {}).get("tags", ())) & set(_ADDED_CELLS)}
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", ())
        base = next((_ADDED_CELLS[t] for t in tags if t in _ADDED_CELLS), None)
        if base is None or "id" not in cell:
            continue
        new, number = base, 1
        while new in taken:
            number += 1
            new = f"{base}-{number}"
        cell["id"] = new
        taken.add(new)


def _headline(nb) -> str | None:
    """The last line a notebook recorded with :func:`workbench.notebook.headline`."""
    from .notebook import HEADLINE_KEY

    found = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            value = output.get("metadata", {}).get(HEADLINE_KEY)
            if isinstance(value, str):
                found = value
    return found


def source_entry(source: str | os.PathLike, *, baseline: str | None = None, title: str | None = None
                 ) -> ReportEntry:
    """A comparison report for any manifest (.toml) or stored table (.parquet): the
    ``compare`` notebook with `source` resolved against the current directory. A table
    names no baseline: give `baseline` (a manifest's is the default)."""
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise ReportError(source, None, "no such file: give an experiment manifest (.toml) or a table (.parquet)")
    if path.is_dir() or path.suffix not in (".toml", ".parquet"):
        raise ReportError(source, None, "expected an experiment manifest (.toml) or a measurement table (.parquet), "
                                        f"found {'a folder' if path.is_dir() else repr(path.suffix or 'no suffix')}")
    if path.suffix == ".parquet" and not baseline:
        raise ReportError(source, None, "a table names no baseline: give one (--baseline NAME)")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip(".-") or "report"
    parameters = {"source": str(path), **({"baseline": baseline} if baseline else {})}
    return ReportEntry(name=name, notebook=NOTEBOOKS / "compare.ipynb",
                       title=title or f"Comparison: {path.name}", parameters=parameters)


def render_source(source: str | os.PathLike, out_dir: str | os.PathLike = DEFAULT_OUT_DIR, *,
                  baseline: str | None = None, timeout: float | None = DEFAULT_CELL_TIMEOUT) -> ReportResult:
    """Render the comparison report of `source` (:func:`source_entry`) into `out_dir`,
    with an index."""
    result = render_notebook(source_entry(source, baseline=baseline), out_dir, timeout=timeout)
    write_index([result], out_dir)
    return result


#: What every kernel may log at the end of a run, not a problem of the report:
#: jupyter_client interrupts each kernel before it asks it to shut down
#: (``KernelManager._async_shutdown_kernel``), and ipykernel logs the interrupt
#: when it lands between two messages.
_SHUTDOWN_NOISE = frozenset({"[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.",
                             "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel",
                             "KeyboardInterrupt caught in kernel"})


_ENGINE = "workbench"
_ENGINE_REGISTERED = False


def _engine_name() -> str:
    """papermill's nbclient engine, saving the notebook once, when execution ends (a
    failure, a timeout and a dead kernel included), instead of at every cell's start and
    end as well: each save encodes and validates the whole notebook, figures and all
    (76 saves, 0.8-1.8 s of this process's CPU for the thesis report, which the kernels
    of the reports rendering beside it wanted). Nothing reads the notebook while it runs:
    it is written under a temporary name and moved into place after."""
    global _ENGINE_REGISTERED
    if _ENGINE_REGISTERED:
        return _ENGINE
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class FinalSave(NotebookExecutionManager):
        final = False

        def save(self, **kwargs):
            if kwargs.get("nb"):
                self.nb = kwargs["nb"]
            if self.final:
                super().save()

        def notebook_complete(self, **kwargs):
            self.final = True  # papermill calls it once, in a finally, however execution ended
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True, log_output=False,
                             autosave_cell_every=30, **kwargs):
            # papermill's Engine.execute_notebook (2.7) with the manager above
            nb_man = FinalSave(nb, output_path=output_path, progress_bar=progress_bar, log_output=log_output,
                               autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(_ENGINE, Engine)  # two threads registering at once register the same thing
    _ENGINE_REGISTERED = True
    return _ENGINE


@contextmanager
def _watching(hold) -> Iterator[None]:
    """While the kernel runs, hand the batch's hold over as soon as it asks to measure."""
    if hold is None:
        yield
        return
    hold.watch()
    try:
        yield
    finally:
        hold.unwatch()


def _kernel_engine_kwargs(stderr_fd: int, cancel: _Cancel | None = None, hold=None) -> dict:
    """Extra papermill engine options for the kernel manager.

    The kernel is started with its stderr on `stderr_fd`, MPLBACKEND and the environment
    of `hold` (a :class:`workbench.quiet.Hold`) set (:func:`_kernel_manager_class`), and
    handed to `cancel` and `hold` if given.
    jupyter_client >= 8.10 can give the kernel CurveZMQ keys; without them
    ipykernel >= 7.4 prints a "running over TCP without encryption" warning
    to stderr for every notebook. Only ask for it where it is supported.
    """
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config({"QuietKernelManager": {"stderr_fd": stderr_fd}})
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config["KernelManager"] = Config({"transport_encryption": "auto"})
    cls = _kernel_manager_class()
    if cancel is not None or hold is not None:
        # A subclass per call carries the token: traitlets would copy a config value.
        cls = type(cls.__name__, (cls,), {"cancel": cancel, "hold": hold})
    return {"config": config, "kernel_manager_class": cls}


_QUIET_KM = None


def _kernel_manager_class():
    """An AsyncKernelManager that starts the kernel with stderr on a given file
    descriptor and MPLBACKEND set to :data:`KERNEL_MPLBACKEND` in the kernel's
    environment alone (this process's is shared by the reports rendering in other
    threads), and hands the kernel's process to ``cls.cancel`` if set (made once,
    on first use: jupyter_client is imported lazily)."""
    global _QUIET_KM
    if _QUIET_KM is None:
        from jupyter_client.manager import AsyncKernelManager
        from traitlets import Integer

        class QuietKernelManager(AsyncKernelManager):
            stderr_fd = Integer(-1, help="file descriptor for the kernel's stderr (-1: inherit)").tag(config=True)
            cancel: _Cancel | None = None
            hold = None  # workbench.quiet.Hold

            async def _async_launch_kernel(self, kernel_cmd, **kw):
                if self.stderr_fd >= 0:
                    kw["stderr"] = self.stderr_fd
                kw["env"] = {**kw.get("env", os.environ), "MPLBACKEND": KERNEL_MPLBACKEND,
                             **(self.hold.env if self.hold is not None else {})}
                if self.cancel is not None and self.cancel.is_set():
                    raise RuntimeError("interrupted before the kernel started")  # the report is then "interrupted"
                result = await super()._async_launch_kernel(kernel_cmd, **kw)
                if self.cancel is not None:
                    self.cancel.adopt(getattr(self.provisioner, "process", None))
                if self.hold is not None:
                    self.hold.process = getattr(self.provisioner, "process", None)
                return result

        _QUIET_KM = QuietKernelManager
    return _QUIET_KM


def _append_only(fd: int) -> None:
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)


class _RawText:
    """A text stream writing straight to an unbuffered binary file."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def write(self, text: str) -> None:
        self.raw.write(text.encode("utf-8", "replace"))

    def flush(self) -> None:
        pass


_LOG_LOCK = threading.Lock()
_LOG_USERS = [0, True]  # how many _executor_log are active; the logger's propagate before the first


@contextmanager
def _executor_log(raw) -> Iterator[None]:
    """Send papermill's and nbclient's log (e.g. "Kernel died while waiting for
    execute reply.") to `raw` (an unbuffered binary file) instead of the process's stderr.

    Only records of the calling thread: reports rendering in other threads log to
    their own files. The logger stops propagating while any of them is active."""
    import logging

    thread = threading.get_ident()
    handler = logging.StreamHandler(_RawText(raw))
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(lambda record: record.thread == thread)
    logger = logging.getLogger("papermill")
    with _LOG_LOCK:
        if _LOG_USERS[0] == 0:
            _LOG_USERS[1] = logger.propagate
        _LOG_USERS[0] += 1
        logger.addHandler(handler)
        logger.propagate = False
    try:
        yield
    finally:
        with _LOG_LOCK:
            logger.removeHandler(handler)
            _LOG_USERS[0] -= 1
            if _LOG_USERS[0] == 0:
                logger.propagate = _LOG_USERS[1]


#: Every page forbids anything from elsewhere: no script at all, images only as data:
#: URIs (the embedded figures), styles only inline. A label that got through as
#: markup could still not run or fetch anything.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                           "base-uri 'none'; form-action 'none'")

# System fonts only (no web fonts); light and dark follow the reader's setting.
_PAGE_CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --border: #d1d9e0;
        --head: #f6f8fa; --link: #0550ae; --code: #f6f8fa; --warn-bg: #fff8c5; --warn-border: #9a6700;
        --ok: #116329; --bad: #a40e26; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --border: #3d444d; --head: #151b23;
          --link: #71b7ff; --code: #151b23; --warn-bg: #272115; --warn-border: #d29922;
          --ok: #56d364; --bad: #ff9492; }
}
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; line-height: 1.5;
       color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 72rem; padding: 1rem; }
a { color: var(--link); }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2rem; } h3 { font-size: 1.1rem; }
.anchor-link { display: none; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85rem; }
pre { background: var(--code); padding: .5rem .75rem; border-radius: 6px; white-space: pre; }
/* wide tables and long lines scroll inside their box, the page never does */
.output_subarea, .output_area, pre { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; margin: .5rem 0; }
th, td { border-bottom: 1px solid var(--border); padding: .3rem .6rem; text-align: right; vertical-align: top;
         white-space: nowrap; }
thead th { background: var(--head); }
tbody tr:hover { background: var(--head); }
/* figures are drawn on white: keep them on a white card in the dark theme */
img { max-width: 100%; height: auto; background: #ffffff; border-radius: 6px; padding: 4px;
      box-sizing: border-box; }
.warnings { border: 1px solid var(--warn-border); background: var(--warn-bg); border-radius: 6px;
            padding: .25rem 1rem; margin: 1rem 0; }
.warnings h2 { font-size: 1rem; margin: .5rem 0; }
.warnings ul { margin: .25rem 0 .5rem; padding-left: 1.25rem; }
.warnings li { white-space: pre-wrap; overflow-wrap: anywhere; }
.meta { color: var(--muted); font-size: .85rem; }
.output_stderr pre { border-left: 3px solid var(--warn-border); }
"""


def _notebook_html(nb, title: str, extra_warnings: Sequence[str] = ()) -> str:
    """A standalone page of an executed notebook: no code or prompts, figures as
    data: URIs, no script and nothing loaded from elsewhere (see
    :data:`CONTENT_SECURITY_POLICY`), light and dark themes, and the notebook's
    warnings (its stderr) collected once in a box at the top."""
    import copy

    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)  # the saved .ipynb keeps its outputs where they were
    warnings = _collect_stderr(nb) + [w for w in extra_warnings if w.strip()]
    # The "basic" template is the cells alone: no MathJax, require.js or any other
    # script from a CDN, no stylesheet of its own. The page around it is ours.
    exporter = HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return _page(title, body, warnings)


def _collect_stderr(nb) -> list[str]:
    """Remove every stderr stream from `nb`'s outputs; their distinct lines, in order."""
    lines: dict[str, None] = {}
    for cell in nb.cells:
        outputs = cell.get("outputs")
        if not outputs:
            continue
        kept = []
        for out in outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                for line in out.get("text", "").splitlines():
                    if line.strip():
                        lines.setdefault(line.rstrip(), None)
            else:
                kept.append(out)
        cell["outputs"] = kept
    return list(lines)


def _page(title: str, body: str, warnings: Sequence[str] = ()) -> str:
    esc = html.escape
    box = ""
    if warnings:
        items = "\n".join(f"<li>{esc(w)}</li>" for w in warnings)
        box = (f'<aside class="warnings" role="note"><h2>Warnings ({len(warnings)})</h2>\n'
               f"<ul>\n{items}\n</ul></aside>\n")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CONTENT_SECURITY_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{esc(title)}</title>
<style>{_PAGE_CSS}</style>
</head>
<body>
<main>
{box}{body}
</main>
</body>
</html>
"""


def _describe(exc: BaseException) -> str:
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    # Absolute, because papermill chdirs into the notebook's folder while it runs.
    out = Path(os.path.abspath(out_dir))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(out_dir, None, f"cannot create output folder: {exc.strerror}") from None
    return out


# --------------------------------------------------------------------------- index

_INDEX_CSS = """
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.meta { margin-top: 0; }
.scroll { max-width: 100%; overflow-x: auto; }
table { width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .45rem .6rem; white-space: normal; }
td.num { text-align: right; white-space: nowrap; }
.name { color: var(--muted); font-family: ui-monospace, Menlo, Consolas, monospace; }
.links a { margin-right: .6rem; }
.ok { color: var(--ok); font-weight: bold; }
.failed { color: var(--bad); font-weight: bold; }
td pre { margin: 0; padding: .25rem .5rem; white-space: pre-wrap; word-break: break-word; font-size: .8rem; }
"""


def write_index(results: Sequence[ReportResult], out_dir: str | os.PathLike) -> Path:
    """Write ``index.html`` listing the results, atomically.

    Parameters
    ----------
    results : sequence of ReportResult
        What to list, in order.
    out_dir : str or PathLike
        Folder of the outputs; links are relative to it.

    Returns
    -------
    Path
        The index file.
    """
    out = _prepare_out_dir(out_dir)
    esc = html.escape
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    failed = sum(r.status == "failed" for r in results)
    interrupted = sum(r.status == "interrupted" for r in results)
    summary = f"{len(results)} report(s): {len(results) - failed - interrupted} ok, {failed} failed"
    if interrupted:
        summary += f", {interrupted} interrupted (later reports not rendered)"

    rows = []
    for r in results:
        links = []
        if r.html is not None:
            links.append(f'<a href="{_href(r.html, out)}">HTML</a>')
        if r.ipynb is not None:
            links.append(f'<a href="{_href(r.ipynb, out)}">notebook</a>')
        title = esc(r.entry.title)
        if r.html is not None:
            title = f'<a href="{_href(r.html, out)}">{title}</a>'
        status = ('<span class="ok">ok</span>' if r.ok
                  else f'<span class="failed">{esc(r.status.upper())}</span>')
        problem = "\n\n".join(p for p in (r.error or "", f"stderr:\n{r.stderr}" if r.stderr else "") if p)
        params = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                           for k, v in r.entry.parameters.items())
        headline = f'<div class="headline">{esc(r.headline)}</div>' if r.headline else ""
        rows.append(
            "<tr>"
            f'<td>{title}<br><span class="name">{esc(r.entry.name)}</span>{headline}'
            f'<div class="links">{" ".join(links)}</div></td>'
            f"<td>{status}</td>"
            f'<td class="num">{r.seconds:.1f}&nbsp;s</td>'
            f"<td><pre>{esc(params)}</pre></td>"
            f"<td><pre>{esc(problem)}</pre></td>"
            "</tr>")

    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CONTENT_SECURITY_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>workbench reports</title>
<style>{_PAGE_CSS}{_INDEX_CSS}</style>
</head>
<body>
<h1>workbench reports</h1>
<p class="meta">Generated {esc(generated)} &middot; {esc(summary)}</p>
<div class="scroll"><table>
<thead><tr><th>Report</th><th>Status</th><th>Duration</th><th>Parameters</th><th>Error and stderr</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table></div>
</body>
</html>
"""
    index = out / INDEX_NAME
    atomic_write(index, page)
    return index


def _href(target: Path, base: Path) -> str:
    rel = Path(os.path.relpath(target, base)).as_posix()
    return html.escape(quote(rel), quote=True)
