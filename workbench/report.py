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
    [report.parameters]             # optional, passed to papermill verbatim
    experiment = "../data/experiments/thesis.toml"

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
import os
import re
import secrets
import sys
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

_ENTRY_KEYS = ("name", "notebook", "title", "parameters")


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
    """

    name: str
    notebook: Path
    title: str
    # hash=False: a dict is unhashable, and entries are identified by name.
    parameters: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ReportResult:
    """Outcome of rendering one :class:`ReportEntry`.

    Attributes
    ----------
    entry : ReportEntry
        The entry rendered.
    status : str
        ``"ok"`` or ``"failed"``.
    ipynb, html : Path or None
        The executed notebook and its HTML page, None when not produced
        (a failed run still keeps whatever could be saved).
    seconds : float
        Wall-clock time of execution plus conversion.
    error : str or None
        ``"<ExceptionName>: <message>"`` for failures, else None.
    headline : str or None
        The one-line result the notebook recorded with :func:`workbench.notebook.headline`.
    """

    entry: ReportEntry
    status: str
    ipynb: Path | None
    html: Path | None
    seconds: float
    error: str | None
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

    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict):
        raise fail("'parameters' must be a table ([report.parameters])")
    for key, value in parameters.items():
        problem = _unsupported_value(value)
        if problem:
            raise fail(f"parameter {key!r}: {problem}")
    return ReportEntry(name=name, notebook=notebook_path, title=title,
                       parameters=dict(parameters))


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
                   progress: bool = True) -> list[ReportResult]:
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

    Returns
    -------
    list of ReportResult
        One per rendered entry; check ``all(r.ok for r in results)``.

    Raises
    ------
    ReportError
        For config errors, unknown names in ``only``, or an output folder
        that cannot be created. Notebook failures do not raise; they are
        reported in the results and the index.
    """
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
    results: list[ReportResult] = []
    with tqdm(entries, desc="reports", unit="report", file=sys.stderr,
              disable=not progress) as bar:
        for entry in bar:
            bar.set_postfix_str(entry.name)
            results.append(render_notebook(entry, out))
    write_index(results, out)
    return results


def render_notebook(entry: ReportEntry, out_dir: str | os.PathLike) -> ReportResult:
    """Execute one entry with papermill and convert it to HTML.

    Parameters
    ----------
    entry : ReportEntry
        The report to render.
    out_dir : str or PathLike
        Output folder; created if missing.

    Returns
    -------
    ReportResult
        ``status == "failed"`` if execution or conversion raised; the
        partially executed notebook (and its HTML, if it converts) is still
        saved. Outputs of an earlier run that this run could not replace are
        removed, so the folder never mixes old pages with a new index.
    """
    # Imported here: papermill and nbconvert take a while to import, and the
    # CLI (and config checking) should not pay for that when not rendering.
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = _prepare_out_dir(out_dir)
    final_ipynb = out / f"{entry.name}.ipynb"
    final_html = out / f"{entry.name}.html"
    # papermill saves the notebook repeatedly while it runs, so it writes to
    # a temporary name; the '.ipynb' suffix keeps papermill's I/O handler happy.
    tmp_ipynb = out / f".{entry.name}.{secrets.token_hex(4)}.tmp.ipynb"

    error: str | None = None
    ipynb: Path | None = None
    html_path: Path | None = None
    headline: str | None = None
    start = time.perf_counter()
    try:
        try:
            with _kernel_environment():
                papermill.execute_notebook(
                    str(entry.notebook), str(tmp_ipynb),
                    parameters=dict(entry.parameters),
                    kernel_name="python3",
                    cwd=str(entry.notebook.parent),
                    log_output=False,
                    progress_bar=False,
                    report_mode=False,
                    **_kernel_engine_kwargs(),
                )
        except PapermillExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"
        except Exception as exc:  # noqa: BLE001 - any failure must not stop the other reports
            error = _describe(exc)

        if tmp_ipynb.exists():
            try:
                nb = nbformat.read(tmp_ipynb, as_version=4)
                headline = _headline(nb)
                # papermill recorded the temporary name; record where it lives.
                nb.metadata.setdefault("papermill", {})["output_path"] = str(final_ipynb)
                atomic_write(final_ipynb, nbformat.writes(nb))
                ipynb = final_ipynb
                atomic_write(final_html, _notebook_html(nb, entry.title))
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
                        ipynb=ipynb, html=html_path, seconds=seconds, error=error, headline=headline)


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
                  baseline: str | None = None) -> ReportResult:
    """Render the comparison report of `source` (:func:`source_entry`) into `out_dir`,
    with an index."""
    result = render_notebook(source_entry(source, baseline=baseline), out_dir)
    write_index([result], out_dir)
    return result


def _kernel_engine_kwargs() -> dict:
    """Extra papermill engine options for the kernel manager.

    jupyter_client >= 8.10 can give the kernel CurveZMQ keys; without them
    ipykernel >= 7.4 prints a "running over TCP without encryption" warning
    to our stderr for every notebook. Only ask for it where it is supported.
    """
    try:
        import zmq
        from jupyter_client.manager import KernelManager
        from traitlets.config import Config
    except ImportError:  # pragma: no cover
        return {}
    if "transport_encryption" not in KernelManager.class_trait_names() or not zmq.has("curve"):
        return {}
    return {"config": Config({"KernelManager": {"transport_encryption": "auto"}})}


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """Set MPLBACKEND for the kernel subprocess, restoring it afterwards."""
    saved = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = KERNEL_MPLBACKEND
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = saved


def _notebook_html(nb, title: str) -> str:
    """Standalone HTML of an executed notebook, without code or prompts."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    # image/png outputs are inlined as data URIs by the default template,
    # so the page needs no side files.
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


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
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .45rem .6rem;
         border-bottom: 1px solid #ddd; }
th { background: #f5f5f5; }
td.num { text-align: right; white-space: nowrap; }
.name { color: #666; font-family: monospace; }
.links a { margin-right: .6rem; }
.ok { color: #18794e; font-weight: bold; }
.failed { color: #c62828; font-weight: bold; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: .85rem; }
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
    failed = sum(not r.ok for r in results)
    summary = f"{len(results)} report(s): {len(results) - failed} ok, {failed} failed"

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
                  else '<span class="failed">FAILED</span>')
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
            f"<td><pre>{esc(r.error or '')}</pre></td>"
            "</tr>")

    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>workbench reports</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>workbench reports</h1>
<p class="meta">Generated {esc(generated)} &middot; {esc(summary)}</p>
<table>
<thead><tr><th>Report</th><th>Status</th><th>Duration</th><th>Parameters</th><th>Error</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""
    index = out / INDEX_NAME
    atomic_write(index, page)
    return index


def _href(target: Path, base: Path) -> str:
    rel = Path(os.path.relpath(target, base)).as_posix()
    return html.escape(quote(rel), quote=True)
