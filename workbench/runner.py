"""Randomized multiple interleaved trials (RMIT): ``workbench run PLAN.toml``.

Run order and drift matter: Abedi & Brecht (ICPE 2017) show that running all
trials of one alternative, then all of the next, can report two identical
systems as 38 % apart. Their remedy, used here: every *round* runs every
condition once, in a fresh random order; many rounds give the runs that
statistics compare (the run is the unit of replication, DESIGN.md §9).

A plan (TOML)::

    [plan]
    id = "probe-vs-memory-hog"          # the experiment id of every row
    title = "..."
    baseline = "alone"
    rounds = 10                          # at least 2
    seed = 2026                          # optional: drawn and recorded when absent
    aa = true                            # repeat the baseline as "<baseline>-aa": the noise floor
    settle = 0.5                         # seconds between starting background load and the trial

    [workload]
    builtin = "probe"                    # or "stream" (McCalpin's stream.c, built with gcc), or
                                         # "vbench" (lmbench-style operations, built static)
    options = { quick = true }           # the builtin's options
    # command = ["./my-bench", "--x"]    # or any command whose output a registered reader reads
    # format = "stream"                  # that reader (default: detected from the output)
    # threads = 1                        # threads the workload keeps busy (for the run-queue guard)
    # timeout = 600                      # seconds per trial

    [capture]                            # optional: a psutil capture around each trial
    interval = 0.5

    [conditions.alone]
    description = "nothing else running"

    [conditions.memory-hog]
    background = [["{python}", "-c", "..."]]   # started before the trial, stopped after it
    # setup = [...], teardown = [...]          # run to completion before / after the trial
    # wrap = ["taskset", "-c", "0"]            # a prefix for a command workload (the lab's guests:
    #                                          # ["{python}", "-m", "workbench", "lab", "boot", "emulated", "--"])
    # hypervisor = "..."; scope = "guest"; guest = "..."; host = "..."   # labels of its rows

``{python}`` in a command stands for the interpreter running the workbench.
Commands are argument lists, never run through a shell, and run in the plan's
folder (relative paths in a plan are relative to it).

What a run writes into its output folder:

* ``trials/rNNN-PP-<condition>.parquet``: each finished trial's rows, written
  when the trial ends (so Ctrl-C or a crash keeps every finished trial);
* ``raw/``: each command trial's output as printed, before parsing;
* ``run.jsonl``: the log: a header (plan, seed, the order of every round),
  then one record per trial (status ``ok``, ``failed`` or ``interrupted``,
  times, exit status, interference guards and the flag);
* ``table.parquet`` and ``manifest.toml``: every finished trial in one table
  (``run`` = round) and a manifest that ``workbench compare`` and the compare
  report take directly; rewritten after every trial.

A trial whose interference guards fired (:mod:`workbench.guards`) keeps its
rows, with the reasons in their ``flag`` column. Ctrl-C, or a trial that fails
(setup, workload or reader), stops the run: finished trials stay, the failed
one is marked, and ``resume=True`` (``--resume``) continues with the same
orders, running only what is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import polars as pl

from . import guards, schema
from ._process import die_with_parent
from .errors import ParseError, WorkbenchError
from .storage import atomic_write, read_table, write_table

LOG = "run.jsonl"
TABLE = "table.parquet"
MANIFEST = "manifest.toml"
AA_SUFFIX = schema.AA_SUFFIX
BUILTINS = ("probe", "stream", "vbench")
SOURCE = "workbench-run"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PLAN_KEYS = {"id", "title", "baseline", "rounds", "seed", "aa", "settle", "description"}
_WORKLOAD_KEYS = {"builtin", "options", "command", "format", "threads", "timeout"}
_CONDITION_KEYS = {"description", "setup", "teardown", "background", "wrap", "hypervisor", "scope", "guest",
                   "host", "env"}
_CAPTURE_KEYS = {"interval", "processes"}
_LABELS = ("hypervisor", "scope", "guest", "host")


class PlanError(WorkbenchError):
    """A plan is inconsistent: names the plan file and the entry."""

    def __init__(self, plan: str | os.PathLike, entry: str, message: str):
        self.plan, self.entry, self.message = str(plan), entry, message
        super().__init__(f"{plan}: {entry}: {message}")


class TrialFailed(WorkbenchError):
    """A trial could not finish (setup, workload or its output); the run stopped there."""


class RunInterrupted(WorkbenchError):
    """Ctrl-C: the run stopped; finished trials are kept."""


@dataclass(frozen=True)
class Condition:
    name: str
    description: str = ""
    setup: tuple[tuple[str, ...], ...] = ()
    teardown: tuple[tuple[str, ...], ...] = ()
    background: tuple[tuple[str, ...], ...] = ()
    wrap: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    of: str | None = None  #: for the A/A pseudo-condition: the condition it repeats


@dataclass(frozen=True)
class Workload:
    builtin: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    format: str | None = None
    threads: int = 1
    timeout: float = 600.0

    def describe(self) -> str:
        return f"builtin {self.builtin}" if self.builtin else shlex.join(self.command)


@dataclass(frozen=True)
class Plan:
    """A parsed plan (see the module docstring)."""

    path: Path
    id: str
    title: str
    baseline: str
    rounds: int
    seed: int | None
    aa: bool
    settle: float
    workload: Workload
    conditions: tuple[Condition, ...]
    capture: Mapping[str, Any] | None = None
    digest: str = ""

    @property
    def all_conditions(self) -> tuple[Condition, ...]:
        """The conditions a round runs: the plan's, plus the A/A repeat of the baseline."""
        if not self.aa:
            return self.conditions
        base = next(c for c in self.conditions if c.name == self.baseline)
        return (*self.conditions, Condition(f"{base.name}{AA_SUFFIX}", f"A/A: {base.name} again", base.setup,
                                            base.teardown, base.background, base.wrap, base.labels, base.env,
                                            of=base.name))

    def orders(self, seed: int) -> list[list[str]]:
        """Each round's order: a fresh random permutation of the conditions (seeded)."""
        rng = np.random.default_rng(seed)
        names = [c.name for c in self.all_conditions]
        return [[names[i] for i in rng.permutation(len(names))] for _ in range(self.rounds)]


def load_plan(path: str | os.PathLike) -> Plan:
    """Parse and check a plan file; every problem is a :class:`PlanError`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorkbenchError(f"{path}: is a directory, expected a plan file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PlanError(path, "TOML", f"not a readable TOML file ({exc})") from None
    _keys(path, "the plan", doc, {"plan", "workload", "capture", "conditions"})
    for section in ("plan", "workload", "conditions"):
        if section not in doc:
            raise PlanError(path, f"[{section}]", "missing")
    head = _table(path, "[plan]", doc["plan"])
    _keys(path, "[plan]", head, _PLAN_KEYS)
    pid = head.get("id")
    if not isinstance(pid, str) or not _NAME.fullmatch(pid):
        raise PlanError(path, "[plan] id", f"a name of letters, digits, '.', '_' or '-', found {pid!r}")
    rounds = head.get("rounds", 10)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 2 <= rounds <= 10_000:
        raise PlanError(path, "[plan] rounds", f"an integer from 2 to 10000, found {rounds!r}")
    seed = head.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise PlanError(path, "[plan] seed", f"a non-negative integer, found {seed!r}")
    aa = head.get("aa", False)
    if not isinstance(aa, bool):
        raise PlanError(path, "[plan] aa", f"true or false, found {aa!r}")
    settle = head.get("settle", 0.5)
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 <= settle <= 600:
        raise PlanError(path, "[plan] settle", f"seconds from 0 to 600, found {settle!r}")

    conditions = []
    for name, spec in _table(path, "[conditions]", doc["conditions"]).items():
        entry = f"[conditions.{name}]"
        if not _NAME.fullmatch(name) or name.endswith(AA_SUFFIX):
            raise PlanError(path, entry, f"a condition name is letters, digits, '.', '_' or '-' (not ending in "
                                         f"'{AA_SUFFIX}', kept for the A/A repeat), found {name!r}")
        spec = _table(path, entry, spec)
        _keys(path, entry, spec, _CONDITION_KEYS)
        labels = {}
        for key in _LABELS:
            if key in spec:
                if not isinstance(spec[key], str) or not spec[key].strip():
                    raise PlanError(path, f"{entry} {key}", f"a non-empty string, found {spec[key]!r}")
                labels[key] = spec[key]
        if "scope" in labels and labels["scope"] not in schema.SCOPES:
            raise PlanError(path, f"{entry} scope", f"one of {', '.join(schema.SCOPES)}, found {labels['scope']!r}")
        env = spec.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise PlanError(path, f"{entry} env", "a table of strings")
        for key, value in env.items():
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise PlanError(path, f"{entry} env", f"variable names without '=' and values without NUL, "
                                                      f"found {key!r}")
        conditions.append(Condition(
            name, str(spec.get("description", "")),
            _commands(path, f"{entry} setup", spec.get("setup", [])),
            _commands(path, f"{entry} teardown", spec.get("teardown", [])),
            _commands(path, f"{entry} background", spec.get("background", [])),
            _command(path, f"{entry} wrap", spec["wrap"]) if "wrap" in spec else (),
            labels, env))
    if len(conditions) < 1 + (not aa):
        raise PlanError(path, "[conditions]", "at least two conditions are needed (or one with aa = true)")
    baseline = head.get("baseline")
    if baseline not in {c.name for c in conditions}:
        raise PlanError(path, "[plan] baseline", f"one of the conditions ({', '.join(c.name for c in conditions)}), "
                                                 f"found {baseline!r}")

    wl = _table(path, "[workload]", doc["workload"])
    _keys(path, "[workload]", wl, _WORKLOAD_KEYS)
    builtin = wl.get("builtin")
    if ("command" in wl) == (builtin is not None):
        raise PlanError(path, "[workload]", "give either `builtin` or `command`")
    if builtin is not None and builtin not in BUILTINS:
        raise PlanError(path, "[workload] builtin", f"one of {', '.join(BUILTINS)}, found {builtin!r}")
    options = _table(path, "[workload] options", wl.get("options", {}))
    if builtin is not None:
        _check_options(path, builtin, options)
    threads = wl.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise PlanError(path, "[workload] threads", f"a positive integer, found {threads!r}")
    timeout = wl.get("timeout", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise PlanError(path, "[workload] timeout", f"positive seconds, found {timeout!r}")
    fmt = wl.get("format")
    if fmt is not None and not isinstance(fmt, str):
        raise PlanError(path, "[workload] format", f"a reader name, found {fmt!r}")
    workload = Workload(builtin, options, _command(path, "[workload] command", wl["command"]) if "command" in wl
                        else (), fmt, threads, float(timeout))
    capture = None
    if "capture" in doc:
        capture = _table(path, "[capture]", doc["capture"])
        _keys(path, "[capture]", capture, _CAPTURE_KEYS)
    return Plan(path, pid, str(head.get("title", pid)), baseline, rounds, seed, aa, float(settle), workload,
                tuple(conditions), capture, hashlib.sha256(raw).hexdigest())


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` left in its folder."""

    folder: Path
    table: Path
    manifest: Path
    trials: int  #: finished trials in the table
    flagged: int  #: of which the guards flagged
    seed: int
    orders: list[list[str]]


Progress = Callable[[str], None]


def run(plan: Plan, folder: str | os.PathLike, *, resume: bool = False,
        thresholds: guards.Thresholds | None = None, progress: Progress | None = None) -> RunResult:
    """Run `plan` into `folder` (see the module docstring).

    Raises
    ------
    WorkbenchError
        The folder holds another run (without `resume`), or a different plan.
    TrialFailed
        A trial failed; the finished ones are in the table.
    RunInterrupted
        Ctrl-C; the finished trials are in the table.
    """
    thresholds = thresholds or guards.Thresholds()
    folder = Path(folder)
    log_path = folder / LOG
    done: dict[tuple[int, str], dict] = {}
    if resume:
        if not log_path.is_file():
            raise WorkbenchError(f"{folder}: nothing to resume (no {LOG})")
        header, records = _read_log(log_path)
        if header.get("plan_sha256") != plan.digest:
            raise WorkbenchError(f"{folder}: was run with another plan (its {LOG} records a different one); "
                                 "run this plan into a new folder")
        seed = int(header["seed"])
        orders = header["orders"]  # as recorded: a newer numpy must not reorder a resumed run
        for rec in records:
            if rec.get("status") == "ok":
                done[(rec["round"], rec["condition"])] = rec
        _cut_torn_line(log_path)
    else:
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise WorkbenchError(f"{folder}: exists and is not an empty folder; give a new folder, or --resume "
                                 "to continue a run in it")
        seed = plan.seed if plan.seed is not None else secrets.randbits(32)
        orders = plan.orders(seed)
    (folder / "trials").mkdir(parents=True, exist_ok=True)
    (folder / "raw").mkdir(exist_ok=True)
    if not resume:
        _append(log_path, {"type": "header", "plan": str(plan.path.name), "plan_sha256": plan.digest,
                           "id": plan.id, "seed": seed, "orders": orders, "aa": plan.aa,
                           "workload": plan.workload.describe(), "thresholds": asdict(thresholds),
                           "started": _now()})
    lock = _lock(folder)
    manifest = _write_manifest(plan, folder)
    tables: dict[tuple[int, str], pl.DataFrame] = {}  # finished trials' rows, read once each
    table = None
    by_name = {c.name: c for c in plan.all_conditions}
    total = plan.rounds * len(by_name)
    count = len(done)
    stop = _Interrupts()
    try:
        for rnd, order in enumerate(orders, start=1):
            for pos, name in enumerate(order, start=1):
                if (rnd, name) in done:
                    continue
                stop.check()
                count += 1
                if progress:
                    progress(f"round {rnd}/{plan.rounds}, {pos}/{len(order)}: {name} ({count}/{total})")
                record = {"type": "trial", "round": rnd, "position": pos, "condition": name, "started": _now()}
                try:
                    file, interference, flag, status = _trial(plan, by_name[name], rnd, pos, folder, thresholds)
                except KeyboardInterrupt:
                    _append(log_path, {**record, "status": "interrupted", "ended": _now()})
                    raise
                except TrialFailed as exc:
                    _append(log_path, {**record, "status": "failed", "ended": _now(), "error": str(exc)})
                    raise
                with stop.deferred():  # logged as finished <=> kept in the table
                    record.update(status="ok", ended=_now(), file=file.relative_to(folder).as_posix(),
                                  interference=interference, flag=flag, exit_status=status)
                    _append(log_path, record)
                    done[(rnd, name)] = record
                table = _collect(plan, folder, seed, orders, done, tables)
        stop.check()
        if table is None:  # nothing ran here (a resume of a finished run)
            table = _collect(plan, folder, seed, orders, done, tables)
    except KeyboardInterrupt:
        _collect(plan, folder, seed, orders, done, tables)
        raise RunInterrupted(f"interrupted: {len(done)} of {total} trials finished and kept in {folder / TABLE}; "
                             "continue with --resume") from None
    except TrialFailed:
        _collect(plan, folder, seed, orders, done, tables)
        raise
    finally:
        stop.restore()
        lock.close()
    flagged = sum(1 for r in done.values() if r.get("flag"))
    return RunResult(folder, table, manifest, len(done), flagged, seed, orders)


def _lock(folder: Path):
    """An exclusive lock on the run folder for the whole run: two ``--resume`` of one
    folder would run the same trials and interleave their log. Released when the
    returned file is closed (or the process ends)."""
    fh = open(folder / ".lock", "a")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return fh
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise WorkbenchError(f"{folder}: another `workbench run` is using this folder") from None
    return fh


class _Interrupts:
    """Ctrl-C that cannot be lost. Python raises KeyboardInterrupt wherever the main
    thread is when the signal is handled; inside an ``os.fork`` callback (logging's
    lock release, which subprocess triggers) that exception is printed and dropped,
    and the run went on to the end. The handler also records the signal, and the run
    checks the record between trials."""

    def __init__(self) -> None:
        self.seen = False
        self.previous = None
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handle)

    _deferring = False

    def _handle(self, signum, frame) -> None:
        self.seen = True
        if not self._deferring:
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self):
        """A section Ctrl-C does not cut in two (a finished trial's log line and its
        place among the kept trials): the signal is recorded and raised at its end."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        self.check()

    def check(self) -> None:
        if self.seen:
            raise KeyboardInterrupt

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def _trial(plan: Plan, cond: Condition, rnd: int, pos: int, folder: Path,
           thresholds: guards.Thresholds) -> tuple[Path, list[dict], str | None, int | None]:
    env = {**os.environ, **cond.env}
    stem = f"r{rnd:03d}-{pos:02d}-{cond.name}"
    background: list[tuple[subprocess.Popen, list[str]]] = []
    capture = captured = None
    try:
        # Setup and the background load inside the try: whatever started is stopped and
        # the teardown runs, however far the trial got.
        for cmd in cond.setup:
            _run_step(cmd, env, f"{cond.name}: setup", plan.workload.timeout, plan.path.parent)
        for cmd in cond.background:
            background.append(_start(cmd, env, cond.name, plan.path.parent))
        if background and plan.settle:
            time.sleep(plan.settle)
        for proc, cmd in background:
            if proc.poll() is not None:
                raise TrialFailed(f"{cond.name}: background command {shlex.join(cmd)} exited with status "
                                  f"{proc.returncode} before the trial")
        if plan.capture is not None:
            capture = _start_capture(plan, folder, stem)
        threads = _workload_threads(plan.workload) + len(background)
        with guards.Monitor(threads=threads, thresholds=thresholds, own_tree=True) as monitor:
            try:
                table, status = _workload(plan, cond, env, folder / "raw" / f"{stem}.out")
            except (TrialFailed, KeyboardInterrupt):
                raise
            except WorkbenchError as exc:  # a builtin refused its options, gcc failed, ...
                raise TrialFailed(f"{cond.name}: {exc}") from None
        interference = monitor.result
    finally:
        _cleanup(capture, background, cond, env, plan)
    if capture is not None:
        captured = _captured(capture)
    if captured is not None:
        table = pl.concat([table, captured.select(table.columns)], how="vertical")
    labels = {"experiment": plan.id, "condition": cond.name, "run": rnd, **cond.labels}
    table = table.with_columns([pl.lit(v, dtype=schema.SCHEMA[k]).alias(k) for k, v in labels.items()])
    flag = interference.flag
    # The workload's own flags (the probe's sanity checks and guards) are kept beside the runner's.
    if flag is not None:
        table = table.with_columns(pl.when(pl.col(schema.FLAG).is_null()).then(pl.lit(flag))
                                   .otherwise(pl.col(schema.FLAG) + f"; {flag}").alias(schema.FLAG))
    out = write_table(table, folder / "trials" / f"{stem}.parquet")
    return out, interference.to_dict(), flag, status


def _cleanup(capture, background, cond: Condition, env: Mapping[str, str], plan: Plan) -> None:
    """Stop the capture and every background process, then run the teardown; each step
    runs even when an earlier one fails (the first failure is raised at the end)."""
    errors: list[BaseException] = []
    steps = []
    if capture is not None:
        steps.append(lambda: capture.stop())
    steps += [(lambda proc=proc: _stop(proc)) for proc, _ in background]
    steps += [(lambda cmd=cmd: _run_step(cmd, env, f"{cond.name}: teardown", plan.workload.timeout,
                                         plan.path.parent)) for cmd in cond.teardown]
    for step in steps:
        try:
            step()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after every step ran
            errors.append(exc)
    if errors:
        raise errors[0]


def _workload_threads(wl: Workload) -> int:
    """Threads the workload keeps runnable: the probe's all-cores mode uses every CPU."""
    if wl.builtin == "probe" and wl.options.get("all_cores", True):
        from .machine import usable_cpus

        return max(wl.threads, int(wl.options.get("threads") or len(usable_cpus())))
    return wl.threads


def _workload(plan: Plan, cond: Condition, env: Mapping[str, str], raw: Path) -> tuple[pl.DataFrame, int | None]:
    wl = plan.workload
    if wl.builtin == "probe":
        return _probe(wl.options), None
    if wl.builtin == "stream":
        from .workloads import stream

        command = stream.command(raw.parent.parent / "bin", **dict(wl.options))
        fmt = "stream"
    elif wl.builtin == "vbench":
        from .workloads import vbench

        command = vbench.command(raw.parent.parent / "bin", **dict(wl.options))
        fmt = "vbench"
    else:
        command, fmt = [_expand(a) for a in wl.command], wl.format
    command = [*(_expand(a) for a in cond.wrap), *command]
    try:
        with open(raw, "wb") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=dict(env), timeout=wl.timeout,
                                  stdin=subprocess.DEVNULL, cwd=plan.path.parent)
    except FileNotFoundError:
        raise TrialFailed(f"{cond.name}: workload {shlex.join(command)}: no such program") from None
    except OSError as exc:  # not executable, or a PATH entry this user may not search
        raise TrialFailed(f"{cond.name}: workload {shlex.join(command)}: cannot start ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise TrialFailed(f"{cond.name}: workload {shlex.join(command)} ran over {wl.timeout:g} s") from None
    if done.returncode != 0:
        tail = raw.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
        raise TrialFailed(f"{cond.name}: workload {shlex.join(command)} exited with status {done.returncode} "
                          f"({tail[0][:120]!r}); its output is in {raw}")
    from . import readers

    try:
        table = readers.read(raw, format=fmt, source_file=f"raw/{raw.name}")
    except WorkbenchError as exc:
        raise TrialFailed(f"{cond.name}: the workload's output could not be read: {exc}") from None
    return table, done.returncode


def _probe(options: Mapping[str, Any]) -> pl.DataFrame:
    from . import probe

    # The condition's background load is part of the condition: the probe's own guards
    # count the runner's process tree as theirs, as the runner's do.
    result = probe.run(**dict(options), own_tree=True)
    table = probe.measured(result.table)  # the probe's own warm-up is not a result of the round
    return table


def _start_capture(plan: Plan, folder: Path, stem: str):
    from .capture import Capture

    opts = plan.capture or {}
    cap = Capture(folder / "trials" / f".{stem}.capture.parquet", interval=float(opts.get("interval", 0.5)),
                  stages=["trial"], processes=list(opts.get("processes", [])))
    return cap.start()


def _captured(cap) -> pl.DataFrame:
    """The rows of a stopped capture (its Parquet file is removed: they go into the trial's)."""
    from . import readers

    result = cap.stop()
    table = readers.read(result.path, format="workbench-table")
    result.path.unlink(missing_ok=True)
    return table


def _run_step(cmd: Sequence[str], env: Mapping[str, str], what: str, timeout: float, cwd: Path) -> None:
    argv = [_expand(a) for a in cmd]
    try:
        done = subprocess.run(argv, env=dict(env), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              cwd=cwd)
    except FileNotFoundError:
        raise TrialFailed(f"{what}: {shlex.join(argv)}: no such program") from None
    except OSError as exc:
        raise TrialFailed(f"{what}: {shlex.join(argv)}: cannot start ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise TrialFailed(f"{what}: {shlex.join(argv)} ran over {timeout:g} s") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise TrialFailed(f"{what}: {shlex.join(argv)} exited with status {done.returncode} ({err[0][:120]!r})")


def _start(cmd: Sequence[str], env: Mapping[str, str], name: str, cwd: Path) -> tuple[subprocess.Popen, list[str]]:
    argv = [_expand(a) for a in cmd]
    try:
        proc = subprocess.Popen(argv, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True, cwd=cwd,
                                preexec_fn=die_with_parent(signal.SIGTERM))  # not outliving the runner
    except FileNotFoundError:
        raise TrialFailed(f"{name}: background command {shlex.join(argv)}: no such program") from None
    except OSError as exc:
        raise TrialFailed(f"{name}: background command {shlex.join(argv)}: cannot start ({exc.strerror})") from None
    return proc, argv


def _stop(proc: subprocess.Popen) -> None:
    """Stop a background command's whole process group, even when its leader has exited
    (``sh -c 'load & exit'`` leaves the load running in the group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=5)
            if sig == signal.SIGTERM:
                time.sleep(0.05)  # let the rest of the group act on SIGTERM
                os.killpg(proc.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue
        except (ProcessLookupError, PermissionError):
            break


def _expand(arg: str) -> str:
    return arg.replace("{python}", sys.executable)


def _collect(plan: Plan, folder: Path, seed: int, orders: list[list[str]], done: Mapping[tuple[int, str], dict],
             tables: dict[tuple[int, str], pl.DataFrame]) -> Path:
    """Every finished trial (`done`, as logged) into one table. Each trial's file is read
    once and kept in `tables`, so collecting after every trial stays linear."""
    for key, rec in done.items():
        if key not in tables:
            tables[key] = read_table(folder / rec["file"])
    frames = [tables[key] for key in done]
    table = pl.concat(frames, how="vertical") if frames else schema.empty()
    meta = {"producer": {"name": SOURCE},
            "settings": {"plan": plan.path.name, "plan_sha256": plan.digest, "id": plan.id, "seed": seed,
                         "orders": orders, "aa": plan.aa, "baseline": plan.baseline,
                         "workload": plan.workload.describe()},
            "events": [{k: rec.get(k) for k in ("round", "position", "condition", "started", "ended", "flag")}
                       for rec in done.values()]}
    return write_table(table, folder / TABLE, metadata=meta)


def _write_manifest(plan: Plan, folder: Path) -> Path:
    """The manifest that reads the run's table (it depends on the plan only: written once)."""
    manifest = folder / MANIFEST
    lines = ["# Written by `workbench run`: every finished trial of the plan, one run per round.",
             "[experiment]", f"id = {json.dumps(plan.id)}", f"title = {json.dumps(plan.title)}",
             f"baseline = {json.dumps(plan.baseline)}", ""]
    for cond in plan.all_conditions:
        lines.append(f"[conditions.{json.dumps(cond.name)}]")
        if cond.description:
            lines.append(f"description = {json.dumps(cond.description)}")
        if "hypervisor" in cond.labels:
            lines.append(f"hypervisor = {json.dumps(cond.labels['hypervisor'])}")
        lines.append("")
    lines += ["[[inputs]]", f"path = {json.dumps(TABLE)}", 'format = "workbench-table"', ""]
    return atomic_write(manifest, "\n".join(lines))


def _append(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _cut_torn_line(path: Path) -> None:
    """Drop a torn last line (a write cut by a kill) so the next record starts a line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        os.truncate(path, data.rfind(b"\n") + 1)


def _read_log(path: Path) -> tuple[dict, list[dict]]:
    header, records = None, []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.endswith("\n"):
                break  # a torn last line (killed mid-write): the trial did not finish
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise ParseError(path, number, "a JSON record of the run log", line[:80]) from None
            if not isinstance(rec, dict):
                raise ParseError(path, number, "a JSON object", line[:80])
            if rec.get("type") == "header" and header is None:
                if not isinstance(rec.get("seed"), int) or not isinstance(rec.get("orders"), list):
                    raise ParseError(path, number, "a header with the run's seed and orders", line[:80])
                header = rec
            elif rec.get("type") == "trial":
                if not isinstance(rec.get("round"), int) or not isinstance(rec.get("condition"), str):
                    raise ParseError(path, number, "a trial record with its round and condition", line[:80])
                records.append(rec)
    if header is None:
        raise ParseError(path, 1, "the run log's header record", "none")
    return header, records


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _table(path: Path, entry: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise PlanError(path, entry, f"expected a table, found {type(value).__name__}")
    return value


def _keys(path: Path, entry: str, table: dict, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PlanError(path, entry, f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")


def _check_options(path: Path, builtin: str, options: dict) -> None:
    """A builtin's options must be keywords its function takes (types are its own business,
    and a refusal there fails the trial with the builtin's message)."""
    import inspect

    if builtin == "probe":
        from .probe import run as function
        reserved = {"labels", "progress", "own_tree"}
    elif builtin == "stream":
        from .workloads.stream import command as function
        reserved = {"folder"}
    else:
        from .workloads.vbench import command as function
        reserved = {"folder"}
    takes = [n for n, p in inspect.signature(function).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in reserved]
    for name in options:
        if name not in takes:
            raise PlanError(path, "[workload] options", f"builtin {builtin!r} takes no option {name!r} "
                                                        f"(its options: {', '.join(takes)})")


def _command(path: Path, entry: str, value: Any) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value or not all(isinstance(a, str) and "\0" not in a for a in value)
            or not value[0].strip()):
        raise PlanError(path, entry, f"a command as a list of strings (no shell), found {value!r}")
    return tuple(value)


def _commands(path: Path, entry: str, value: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise PlanError(path, entry, f"a list of commands, found {value!r}")
    return tuple(_command(path, f"{entry}[{i}]", v) for i, v in enumerate(value))
