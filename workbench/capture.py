"""Live capture with psutil: stages, hypervisor processes, crash-safe files (DESIGN.md §7).

A :class:`Capture` samples the machine it runs on (a host, or a guest on any
hypervisor; Linux, Windows, macOS) at a fixed interval on a drift-free grid:
tick ``k`` is due ``k * interval`` seconds after the baseline reading, whatever
the previous ticks cost, and a tick the machine was too busy to take is skipped
and counted, never squeezed in late. Each sample turns the counters' change
since the previous one into rates and percentages over that span:

* CPU busy, steal and iowait per core and in total, from ``psutil.cpu_times``
  deltas. ``psutil.cpu_percent()`` is not used: its first call is meaningless
  and it counts steal as busy time; here busy = total - idle - iowait - steal,
  so time the hypervisor took away shows as ``cpu_steal``, never as load.
  Steal and iowait exist where the OS reports them (Linux), not on Windows.
* memory used/free/total and utilization, swap used/total (levels at the
  sample's end), disk read/write bytes/s per device, network rx/tx bytes/s per
  interface, the 1-minute load average;
* with ``processes``, CPU share and resident memory of every process whose
  name matches one of the regular expressions (``vmware-vmx``, ``qemu-system``,
  ``VBoxHeadless``): what each guest costs its host.

Stages label the samples, three ways that combine: a timed plan
(``stages=["idle=60", "load=120"]``), a wrapped command (the stage named after
it, its exit status recorded; the capture ends with it) and live marks
(:meth:`Capture.mark`, which ``workbench capture`` calls for each line typed on
the terminal). A sample carries the stage in effect at the end of its interval.

Crash safety: records are appended as JSON lines to ``<output>.capture.jsonl``
and flushed with ``fsync`` every ``flush_interval`` seconds, so Ctrl-C, SIGTERM
or ``kill -9`` lose at most that much; :func:`workbench.read` reads the file as
it is (dropping a torn last line with a warning). A capture that ends normally
is converted to Parquet (temporary name, then rename) and the JSON lines are
removed. The file format is documented in :mod:`workbench.readers.capture`.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import psutil

from . import machine, quiet, vocabulary
from .errors import WorkbenchError

if TYPE_CHECKING:
    import polars as pl

# The sampling process imports no polars, numpy or reader (bench/capture_sample.py measures
# its start-up; tests/test_capture.py checks what it imports): the table is built by
# workbench.readers.capture (imported here only to build or convert it) from the JSON lines.
#: The file format written here and read by :mod:`workbench.readers.capture` (whose
#: FORMAT, VERSION and SOURCE these must equal; tests/test_capture.py checks).
FORMAT, VERSION, SOURCE = "workbench-capture", 1, "psutil-capture"

MIN_INTERVAL, MAX_INTERVAL = 0.1, 10.0

#: Metric -> what its value summarizes, from the vocabulary (``schema.Metric.aggregate``):
#: ``mean`` over the sample's interval (rates and shares from counter deltas) or
#: ``last``, the level read at the interval's end.
AGGREGATES: dict[str, str] = {name: m.aggregate for name, m in vocabulary.METRICS.items()
                              if m.aggregate in ("mean", "last")}

# On Linux, guest time (running a VM's vCPU, e.g. a KVM host) is already counted in
# user/nice; psutil's cpu_percent subtracts it from the total the same way (psutil
# _cpu_tot_time, psutil PR #940). Other platforms have no such fields.
_COUNTED_TWICE = ("guest", "guest_nice")


@dataclass(frozen=True)
class Stage:
    """One stage of a timed plan: a name and a duration (None = until stopped)."""

    name: str
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Stage:
        """Parse ``NAME=SECONDS`` (timed) or ``NAME`` (open-ended)."""
        name, sep, seconds = text.rpartition("=")
        if not sep:
            name, seconds = text, None
        name = name.strip()
        if not name:
            raise WorkbenchError(f"stage {text!r}: expected NAME=SECONDS or NAME, found no name")
        if seconds is None:
            return cls(name)
        try:
            value = float(seconds)
        except ValueError:
            value = math.nan
        if not value > 0 or math.isinf(value):
            raise WorkbenchError(f"stage {text!r}: SECONDS must be a positive number, found {seconds!r}")
        return cls(name, value)


@dataclass(frozen=True)
class Progress:
    """A running capture's state, for a progress line."""

    elapsed: float  #: seconds since the baseline reading
    samples: int
    missed_ticks: int
    stage: str | None
    cpu_util: float | None  #: total CPU busy % of the last sample
    mem_util: float | None  #: memory used % at the last sample
    lag: float | None  #: seconds the last reading came after its tick


@dataclass(frozen=True)
class CaptureResult:
    """What a finished capture produced and what it cost.

    Attributes
    ----------
    path : Path
        The Parquet file, or the JSON-lines file when conversion was skipped.
    samples, missed_ticks : int
        Samples taken and grid ticks skipped because the machine was too busy.
    seconds : float
        Wall time from the baseline reading to the last sample.
    cpu_seconds : float
        CPU time of the sampling thread (the capture's own cost).
    lags : tuple of float
        Per sample, seconds between its tick and the reading (the jitter).
    exit_status : int or None
        The wrapped command's exit status (negative: killed by that signal).
    reason : str
        Why it ended: ``plan finished``, ``command exited`` or ``stopped``.
    """

    path: Path
    samples: int
    missed_ticks: int
    seconds: float
    cpu_seconds: float
    lags: tuple[float, ...]
    exit_status: int | None
    reason: str

    @property
    def overhead(self) -> float:
        """The capture's CPU cost as percent of one core."""
        return 100 * self.cpu_seconds / self.seconds if self.seconds > 0 else math.nan

    def lag_quantiles(self, q: Sequence[float] = (0.5, 0.99)) -> tuple[float, ...]:
        """Quantiles of the sampling lag in seconds (NaN without samples)."""
        if not self.lags:
            return tuple(math.nan for _ in q)
        return tuple(_quantile(sorted(self.lags), x) for x in q)


def _quantile(ordered: Sequence[float], q: float) -> float:
    """The `q` quantile of sorted values, interpolated linearly between the two nearest
    (numpy's and polars' "linear", Hyndman and Fan type 7)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def live_path(output: str | os.PathLike) -> Path:
    """The JSON-lines file a capture writes while it runs: ``x.parquet`` -> ``x.capture.jsonl``."""
    out = Path(output)
    return out.with_suffix(".capture.jsonl") if out.suffix == ".parquet" else out.with_name(out.name + ".capture.jsonl")


def temporary_output() -> Path:
    """A new Parquet path in the system's temporary folder (for notebooks and tries)."""
    return Path(tempfile.mkdtemp(prefix="workbench-capture-")) / "capture.parquet"


def convert(path: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Convert a capture's JSON lines into its finished Parquet form.

    For a capture that did not finish (killed, or a write failed); a capture
    that ends normally converts itself. The table is validated, the header and
    events go into the Parquet metadata, the file is written under a temporary
    name and renamed; the JSON lines are kept.

    Parameters
    ----------
    path : str or PathLike
        The ``.capture.jsonl`` file.
    output : str or PathLike, optional
        The Parquet file (default: ``x.capture.jsonl`` -> ``x.parquet``).
    """
    from .readers import capture as fmt
    from .readers import validate_labelled
    from .storage import write_table

    path = Path(path)
    if output is None:
        name = path.name.removesuffix(".jsonl").removesuffix(".capture")
        output = path.with_name(name + ".parquet")
    output = Path(output)
    captured = fmt.load(path)
    table = validate_labelled(captured.table, {}, {}, source=str(output))
    try:
        write_table(table, output, metadata=fmt.document(captured.header, captured.events))
    except WorkbenchError as exc:
        raise WorkbenchError(f"{exc}; the capture is kept in {path}") from None
    return output


def stage_summary(table: pl.DataFrame, metrics: Sequence[str] = ("cpu_util", "cpu_steal", "mem_util"),
                  components: Sequence[str] | None = ("total",)) -> pl.DataFrame:
    """Per stage (in capture order), metric and component: samples, seconds, median, mean, max.

    Descriptive only: the samples of one capture are autocorrelated and come
    from one run, so they are not independent observations (DESIGN.md §9);
    compare stages across runs with :mod:`workbench.stats`.

    Parameters
    ----------
    table : polars.DataFrame
        Rows of one capture.
    metrics : sequence of str
        Metrics to summarize.
    components : sequence of str, optional
        Components to keep (default ``total``); None keeps all.
    """
    import polars as pl

    rows = table.filter(pl.col("metric").is_in(list(metrics)) & pl.col("interval").is_not_null())
    if components is not None:
        rows = rows.filter(pl.col("component").is_in(list(components)))
    order = rows.sort("time").select(pl.col("stage").unique(maintain_order=True)).to_series().to_list()
    return (rows.group_by("stage", "metric", "component", maintain_order=True)
            .agg(samples=pl.len(), seconds=pl.col("interval").sum(), median=pl.col("value").median(),
                 mean=pl.col("value").mean(), max=pl.col("value").max(), unit=pl.col("unit").first())
            .with_columns(_order=pl.col("stage").replace_strict(
                {s: i for i, s in enumerate(order)}, default=len(order), return_dtype=pl.Int64))
            .sort("_order", "metric", "component", maintain_order=True).drop("_order"))


class Capture:
    """A live capture, sampling in a background thread.

    Parameters
    ----------
    output : str or PathLike
        The Parquet file a finished capture becomes. While running, records go
        to :func:`live_path` of it (``x.parquet`` -> ``x.capture.jsonl``), which
        must not exist yet (it may hold an earlier, crashed capture).
    interval : float
        Seconds between samples, 0.1 to 10.
    flush_interval : float
        Seconds between flushes to disk (``fsync``): what a crash can lose.
    stages : sequence of str or Stage
        A timed plan, in order (``"idle=60"``; only the last may be open-ended,
        ``"idle"``). Without a command, the capture ends with the last timed stage.
    command : sequence of str, optional
        A command run after the timed stages, as a stage of its own; the capture
        ends when it exits and records its exit status.
    command_stage : str, optional
        The command's stage name (default: the command line, program base name first).
    processes : sequence of str
        Regular expressions searched in process names; matching processes get
        ``proc_cpu_util`` and ``proc_rss`` rows, component ``name[pid]``.
    labels : dict, optional
        Label columns for every row (``scope``, ``guest``, ``condition``, ...).
        ``host``, ``scope`` and ``hypervisor`` default to
        :func:`workbench.machine.default_labels` (stored in the header's
        ``meta``), as the probe's do; inside a guest give ``guest=NAME``, and
        the physical ``host`` if the rows should carry it.
    history : int, optional
        Samples kept in memory for :meth:`table` and :meth:`follow`
        (default: all; the CLI keeps one).

    Examples
    --------
    >>> cap = Capture("run1.parquet", interval=0.5, stages=["idle=10"]).start()  # doctest: +SKIP
    >>> cap.mark("guest boot")                                                     # doctest: +SKIP
    >>> result = cap.stop()                                                        # doctest: +SKIP
    """

    def __init__(self, output: str | os.PathLike, *, interval: float = 1.0, flush_interval: float = 1.0,
                 stages: Sequence[str | Stage] = (), command: Sequence[str] | None = None,
                 command_stage: str | None = None, processes: Sequence[str] = (),
                 labels: dict[str, Any] | None = None, history: int | None = None):
        if not (isinstance(interval, (int, float)) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
            raise WorkbenchError(f"`interval` must be between {MIN_INTERVAL:g} and {MAX_INTERVAL:g} seconds, "
                                 f"found {interval!r}")
        if not (isinstance(flush_interval, (int, float)) and flush_interval > 0 and math.isfinite(flush_interval)):
            raise WorkbenchError(f"`flush_interval` must be a positive number of seconds, found {flush_interval!r}")
        self.output = Path(output)
        self.path = live_path(self.output)
        self.interval = float(interval)
        self.flush_interval = float(flush_interval)
        self.plan = [s if isinstance(s, Stage) else Stage.parse(s) for s in stages]
        if any(s.seconds is None for s in self.plan[:-1]):
            open_ended = next(s.name for s in self.plan if s.seconds is None)
            raise WorkbenchError(f"stage '{open_ended}' has no duration: only the last stage may be open-ended")
        self.command = list(command) if command else None
        if self.command and self.plan and self.plan[-1].seconds is None:
            raise WorkbenchError(f"stage '{self.plan[-1].name}' has no duration, so the command would never run")
        self.command_stage = command_stage or (
            shlex.join([Path(self.command[0]).name, *self.command[1:]]) if self.command else None)
        self.patterns = []
        for pattern in processes:
            try:
                self.patterns.append(re.compile(pattern))
            except re.error as exc:
                raise WorkbenchError(f"process pattern {pattern!r} is not a regular expression ({exc})") from None
        labels = dict(labels or {})
        unknown = sorted(set(labels) - set(vocabulary.LABELS))
        if unknown:
            raise WorkbenchError(f"unknown label '{unknown[0]}'; labels are: {', '.join(vocabulary.LABELS)}")
        self.labels = vocabulary.check_labels(labels)  # before any sample: not after an hour of capture
        self._recent: deque[dict] = deque(maxlen=history)
        self._first_k = 0
        self._lock = threading.Lock()
        self._marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._result: CaptureResult | None = None
        self._header: dict | None = None
        self._events: list[dict] = []
        self._lags: list[float] = []
        self._samples = 0
        self._missed = 0
        self._stage: str | None = None
        self._last_values: dict = {}
        self._last_t = 0.0
        self._proc: subprocess.Popen | None = None
        self._exit_status: int | None = None
        self._reason = "stopped"
        self._buffer: list[bytes] = []
        self._fh = None

    # ------------------------------------------------------------------ control

    def start(self) -> Capture:
        """Open the file, write the header, take the baseline reading, start sampling.

        Raises
        ------
        WorkbenchError
            If the file exists or cannot be created, or the command is not found.
        """
        if self._thread is not None:
            raise WorkbenchError("this capture was already started")
        if self.command and shutil.which(self.command[0]) is None:
            raise WorkbenchError(f"command not found: {self.command[0]}")
        if self.path.exists():
            raise WorkbenchError(f"{self.path} exists (an earlier capture that did not finish?): "
                                 "read it with workbench.read, then move it away or choose another output")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "xb")
        except FileExistsError:  # what mkdir says when a file stands where a folder should be
            raise WorkbenchError(f"cannot create capture file {self.path}: {os.strerror(errno.ENOTDIR)}") from None
        except OSError as exc:
            raise WorkbenchError(f"cannot create capture file {self.path}: {exc.strerror}") from None
        # Described before the baseline reading: lscpu and systemd-detect-virt take
        # tens of milliseconds that would otherwise delay the first tick.
        meta = {**machine.machine_metadata(machine.detect_machine()), "workbench": _workbench_version()}
        self._sampler = _Sampler(self.patterns)
        # From the baseline reading to the end of sampling, the capture measures this
        # machine: under workbench report no other report runs meanwhile (quiet.py).
        quiet.acquire()
        try:
            return self._begin(meta)
        except BaseException:
            quiet.release()  # a capture that did not start holds nothing
            raise

    def _begin(self, meta: dict) -> Capture:
        """:meth:`start` from the baseline reading on (the machine held)."""
        baseline = self._sampler.snapshot()
        self._t0 = baseline.mono
        self._start_epoch = time.time() - (time.perf_counter() - baseline.mono)
        self._header = {
            "format": FORMAT, "version": VERSION, "source": SOURCE,
            "start": self._start_epoch,
            "started": datetime.fromtimestamp(self._start_epoch, timezone.utc).isoformat(),
            "interval": self.interval, "flush_interval": self.flush_interval,
            "metrics": {m: [vocabulary.METRICS[m].unit, AGGREGATES[m]] for m in self._sampler.metrics},
            "labels": self.labels,
            "plan": [[s.name, s.seconds] for s in self.plan],
            "command": self.command, "processes": [p.pattern for p in self.patterns],
            "meta": meta,
        }
        try:
            self._write(json.dumps(self._header) + "\n")
            self._flush()
        except _Failed as exc:
            self._close()
            self.path.unlink(missing_ok=True)  # nothing of this capture was written
            raise exc.error from None
        self._thread = threading.Thread(target=self._run, args=(baseline,), name="workbench-capture", daemon=True)
        self._thread.start()
        return self

    def mark(self, stage: str) -> None:
        """Start stage `stage` now (a live mark); samples ending after now carry it."""
        if not isinstance(stage, str) or not stage.strip():
            raise WorkbenchError(f"a stage name must be a non-empty string, found {stage!r}")
        if self._thread is None:
            raise WorkbenchError("the capture has not started")
        if self._done.is_set():
            raise WorkbenchError("the capture has ended")
        with self._lock:
            self._marks.append((time.perf_counter(), stage.strip()))

    @property
    def done(self) -> bool:
        """True once sampling ended (plan finished, command exited, stopped, or failed)."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until sampling ends on its own; True if it did within `timeout`."""
        return self._done.wait(timeout)

    def status(self) -> Progress:
        """Elapsed time, samples, current stage and the last CPU/memory readout."""
        with self._lock:
            values = self._last_values
            return Progress(
                elapsed=(time.perf_counter() - self._t0) if self._thread else 0.0,
                samples=self._samples, missed_ticks=self._missed, stage=self._stage,
                cpu_util=values.get("cpu_util", {}).get("total"),
                mem_util=values.get("mem_util", {}).get("total"),
                lag=self._lags[-1] if self._lags else None)

    def table(self) -> pl.DataFrame:
        """The samples kept in memory as a validated measurement table."""
        from . import schema
        from .readers import capture as fmt
        from .readers import validate_labelled

        if self._header is None:
            return schema.empty()
        with self._lock:
            samples = list(self._recent)
            events = list(self._events)
            first_k = self._first_k
        frame = fmt.build_table(self._header, samples, events, source=str(self.path), first_k=first_k)
        return validate_labelled(frame, {}, {}, source=str(self.path))

    def follow(self, every: float = 1.0, *, seconds: float | None = None) -> Iterator[pl.DataFrame]:
        """Yield :meth:`table` every `every` seconds until sampling ends (or for `seconds`).

        The capture keeps running when `seconds` runs out; the last table is
        yielded after sampling ended or the time is up.
        """
        if self._thread is None:
            raise WorkbenchError("the capture has not started")
        until = None if seconds is None else time.perf_counter() + seconds
        while True:
            left = every if until is None else min(every, until - time.perf_counter())
            finished = self._done.wait(max(left, 0.0))
            yield self.table()
            if finished or (until is not None and time.perf_counter() >= until):
                return

    def stop(self, *, convert: bool = True) -> CaptureResult:
        """Stop sampling (terminating a command still running), close the file and
        convert it to Parquet.

        Parameters
        ----------
        convert : bool
            Write the Parquet file and remove the JSON lines (default); False
            keeps the JSON lines only.

        Raises
        ------
        WorkbenchError
            If a write failed during the capture (disk full, file too large):
            the JSON lines written before stay readable, no Parquet is written.
        """
        if self._result is not None:
            return self._result
        if self._thread is None:
            raise WorkbenchError("the capture has not started")
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        path = self.path
        if convert:
            path = self._convert()
        self._result = CaptureResult(
            path=path, samples=self._samples, missed_ticks=self._missed, seconds=self._last_t,
            cpu_seconds=self._cpu_seconds, lags=tuple(self._lags), exit_status=self._exit_status,
            reason=self._reason)
        return self._result

    def __enter__(self) -> Capture:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc_info: Any) -> None:
        if self._thread is not None and self._result is None:
            self.stop()

    # ------------------------------------------------------------------ sampling thread

    def _run(self, baseline: _Snapshot) -> None:
        cpu_start = time.thread_time()
        try:
            self._loop(baseline)
        except _Failed as exc:
            self._error = exc.error
        except BaseException as exc:  # a bug: stop() re-raises it with its traceback
            self._error = exc
        finally:
            self._cpu_seconds = time.thread_time() - cpu_start
            try:
                self._finish()
            finally:
                quiet.release()
                self._done.set()

    def _loop(self, prev: _Snapshot) -> None:
        step = self.interval
        t0 = self._t0
        k = 0
        next_flush = t0 + self.flush_interval
        self._end_k: int | None = None
        self._plan_index = -1
        if self._advance(0):
            return
        while True:
            due = t0 + (k + 1) * step
            while (now := time.perf_counter()) < due:
                # Event.wait can return a little early; loop until the tick is due.
                if self._stop.wait(due - now):
                    return
            exited = self._poll_command()
            cur = self._sampler.snapshot()
            k_new = max(k + 1, int((cur.mono - t0) / step))
            self._apply_marks(cur.mono)
            finished = False
            while self._end_k is not None and k_new > self._end_k and not finished:
                finished = self._advance(self._end_k)  # boundaries passed during missed ticks
            values = self._sampler.values(prev, cur)
            t = cur.mono - t0
            record = {"type": "sample", "k": k_new, "t": round(t, 6), "stage": self._stage, "values": values}
            self._write(json.dumps(record, separators=(",", ":")) + "\n")
            with self._lock:
                if self._recent.maxlen is not None and len(self._recent) == self._recent.maxlen:
                    self._first_k = self._recent[0]["k"]  # the span of the oldest kept sample starts here
                self._recent.append(record)
                self._missed += k_new - k - 1
                self._samples += 1
                self._lags.append(t - k_new * step)
                self._last_values = values
                self._last_t = t
            k, prev = k_new, cur
            if exited:
                self._reason = "command exited"
                return
            if not finished and self._end_k is not None and k >= self._end_k:
                finished = self._advance(self._end_k)
            if finished:
                self._reason = "plan finished"
                return
            if cur.mono >= next_flush:
                self._flush()
                next_flush = cur.mono + self.flush_interval

    def _advance(self, boundary_k: int) -> bool:
        """Go to the next timed stage at grid tick `boundary_k`; True when the plan is over."""
        self._plan_index += 1
        self._end_k = None
        if self._plan_index < len(self.plan):
            stage = self.plan[self._plan_index]
            self._set_stage(stage.name, "plan", boundary_k * self.interval)
            if stage.seconds is not None:
                self._end_k = boundary_k + max(1, round(stage.seconds / self.interval))
            return False
        if self.command and self._proc is None:
            self._launch()
            return False
        # Without a plan or a command, a capture runs until stopped.
        return bool(self.plan)

    def _set_stage(self, name: str, how: str, t: float) -> None:
        self._event({"type": "stage", "t": round(t, 6), "stage": name, "how": how})
        with self._lock:
            self._stage = name

    def _apply_marks(self, upto: float) -> None:
        with self._lock:
            due = [m for m in self._marks if m[0] <= upto]
            self._marks = [m for m in self._marks if m[0] > upto]
        for when, name in due:
            self._set_stage(name, "mark", when - self._t0)

    def _launch(self) -> None:
        self._set_stage(self.command_stage, "command", time.perf_counter() - self._t0)
        self._event({"type": "command", "t": round(time.perf_counter() - self._t0, 6), "argv": self.command,
                     "stage": self.command_stage})
        try:
            self._proc = subprocess.Popen(self.command)
        except OSError as exc:
            raise _Failed(WorkbenchError(f"cannot run {self.command[0]}: {exc.strerror}")) from None
        self._flush()  # the stage change is on disk before the command can do anything

    def _poll_command(self) -> bool:
        if self._proc is None or self._exit_status is not None:
            return False
        status = self._proc.poll()
        if status is None:
            return False
        self._record_exit(status)
        return True

    def _record_exit(self, status: int) -> None:
        self._exit_status = status
        self._event({"type": "exit", "t": round(time.perf_counter() - self._t0, 6), "stage": self.command_stage,
                     "status": status})

    def _finish(self) -> None:
        if self._proc is not None and self._exit_status is None:
            # Stopped while the command runs (Ctrl-C reaches it too, from the terminal).
            self._proc.terminate()
            try:
                status = self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                status = self._proc.wait()
            if self._fh is not None:
                self._record_exit(status)
            else:
                self._exit_status = status
        if self._fh is None:
            return
        try:
            self._event({"type": "end", "t": round(self._last_t, 6), "samples": self._samples,
                         "missed_ticks": self._missed, "cpu_seconds": round(self._cpu_seconds, 6),
                         "reason": "error" if self._error else self._reason})
            self._flush()
        except _Failed as exc:
            self._error = self._error or exc.error
        finally:
            self._close()

    # ------------------------------------------------------------------ file

    def _event(self, record: dict) -> None:
        with self._lock:
            self._events.append(record)
        self._write(json.dumps(record, separators=(",", ":")) + "\n")

    def _write(self, line: str) -> None:
        if self._fh is None:
            raise _Failed(self._error or WorkbenchError(f"{self.path}: the file is closed"))
        self._buffer.append(line.encode("utf-8"))

    def _flush(self) -> None:
        data = b"".join(self._buffer)
        self._buffer.clear()
        try:
            self._fh.write(data)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            self._close()
            raise _Failed(WorkbenchError(
                f"cannot write {self.path}: {exc.strerror}; the capture stopped after {self._samples} samples, "
                "the lines flushed before stay readable")) from None

    def _close(self) -> None:
        sampler = getattr(self, "_sampler", None)
        if sampler is not None:
            sampler.close()
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:  # the data it could not write is already reported
                pass

    def _convert(self) -> Path:
        out = convert(self.path, self.output)
        self.path.unlink()
        return out


class _Failed(Exception):
    """Internal: carries a WorkbenchError out of the sampling thread."""

    def __init__(self, error: WorkbenchError):
        super().__init__(str(error))
        self.error = error


@dataclass
class _Snapshot:
    mono: float
    cpu: list
    vm: Any
    swap: Any
    disk: dict
    net: dict
    load: float
    procs: dict


class _Memory:
    """What the values use of psutil's ``virtual_memory()`` and ``swap_memory()``."""

    __slots__ = ("total", "available", "used")

    def __init__(self, total: int, available: int, used: int = 0):
        self.total, self.available, self.used = total, available, used


class _ProcFiles:
    """Linux counters read straight from /proc, with psutil's meaning (same fields, same
    units, same devices), the files kept open and re-read with ``pread``: one sample costs
    four reads instead of psutil's reopening, its second /proc/meminfo and /proc/vmstat
    (issue 17: 1.4-1.75 ms per sample). None from :meth:`open` where a file
    or a field is missing: psutil is used then."""

    MEMINFO = (b"MemTotal:", b"MemAvailable:", b"SwapTotal:", b"SwapFree:")

    def __init__(self, fds: dict[str, int], ncpu_fields: int):
        self._fds = fds
        self._nfields = ncpu_fields
        self._tick = float(os.sysconf("SC_CLK_TCK"))

    @classmethod
    def open(cls, ncpu_fields: int) -> _ProcFiles | None:
        if not os.path.exists("/proc/stat"):
            return None
        fds: dict[str, int] = {}
        try:
            for key, path in (("stat", "/proc/stat"), ("meminfo", "/proc/meminfo"),
                              ("diskstats", "/proc/diskstats"), ("net", "/proc/net/dev")):
                fds[key] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            for fd in fds.values():
                os.close(fd)
            return None
        files = cls(fds, ncpu_fields)
        try:
            files.memory()
        except (OSError, KeyError, ValueError):
            files.close()
            return None
        return files

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}

    def _read(self, key: str) -> bytes:
        fd, size = self._fds[key], 1 << 16
        while True:
            data = os.pread(fd, size, 0)
            if len(data) < size:
                return data
            size *= 4

    def cpu(self) -> list[tuple[float, ...]]:
        """``psutil.cpu_times(percpu=True)``: per core, the first fields of its /proc/stat line
        in seconds."""
        tick, n = self._tick, self._nfields
        out = []
        for line in self._read("stat").split(b"\n"):
            if line.startswith(b"cpu") and line[3:4].isdigit():
                out.append(tuple(int(x) / tick for x in line.split()[1:n + 1]))
            elif out:
                break
        return out

    def memory(self) -> tuple[_Memory, _Memory]:
        """``(virtual_memory(), swap_memory())``: total and available; swap total and used."""
        found = {}
        for line in self._read("meminfo").split(b"\n"):
            key = line.split(b" ", 1)[0]
            if key in self.MEMINFO:
                found[key] = int(line.split()[1]) * 1024
                if len(found) == 4:
                    break
        total, swap_total = found[b"MemTotal:"], found[b"SwapTotal:"]
        return (_Memory(total, found[b"MemAvailable:"]),
                _Memory(swap_total, 0, swap_total - found[b"SwapFree:"]))

    def disk(self) -> dict:
        """``disk_io_counters(perdisk=True)``: (read, written) bytes of every line of
        /proc/diskstats (partitions included, as psutil gives them), sectors of 512 bytes."""
        out = {}
        for line in self._read("diskstats").split(b"\n"):
            fields = line.split()
            n = len(fields)
            if n == 15:
                name, rbytes, wbytes = fields[3], fields[5], fields[9]
            elif n == 14 or n >= 18:
                name, rbytes, wbytes = fields[2], fields[5], fields[9]
            elif n == 7:
                name, rbytes, wbytes = fields[2], fields[4], fields[6]
            else:
                continue
            out[name.decode("utf-8", "replace")] = (int(rbytes) * 512, int(wbytes) * 512)
        return out

    def net(self) -> dict:
        """``net_io_counters(pernic=True)``: (received, sent) bytes of each interface."""
        out = {}
        for line in self._read("net").split(b"\n")[2:]:
            colon = line.rfind(b":")
            if colon <= 0:
                continue
            fields = line[colon + 1:].split()
            out[line[:colon].strip().decode("utf-8", "replace")] = (int(fields[0]), int(fields[8]))
        return out


class _Sampler:
    """Reads the counters (one snapshot per tick: /proc directly on Linux, psutil
    elsewhere) and turns two snapshots into values."""

    def __init__(self, patterns: list[re.Pattern]):
        fields = psutil.cpu_times()._fields
        self.ncpu = psutil.cpu_count() or 1
        self._idle = fields.index("idle")
        self._iowait = fields.index("iowait") if "iowait" in fields else None
        self._steal = fields.index("steal") if "steal" in fields else None
        self._twice = [fields.index(f) for f in _COUNTED_TWICE if f in fields]
        self._patterns = patterns
        self._known: dict[int, tuple[psutil.Process, str] | None] = {}
        self._proc = _ProcFiles.open(len(fields)) if psutil.LINUX else None
        self.has_disk = self._disk() is not None
        self.has_net = self._net() is not None
        metrics = ["cpu_util"]
        metrics += ["cpu_steal"] if self._steal is not None else []
        metrics += ["cpu_iowait"] if self._iowait is not None else []
        metrics += ["mem_used", "mem_free", "mem_total", "mem_util", "swap_used", "swap_total"]
        metrics += ["disk_read", "disk_write"] if self.has_disk else []
        metrics += ["net_rx", "net_tx"] if self.has_net else []
        metrics += ["load_avg"]
        metrics += ["proc_cpu_util", "proc_rss"] if patterns else []
        self.metrics = metrics

    def close(self) -> None:
        if self._proc is not None:
            self._proc.close()
            self._proc = None

    def _disk(self) -> dict | None:
        if self._proc is not None:
            return self._proc.disk()
        # nowrap=False: psutil's wrap bookkeeping costs a third of the call, and a
        # counter that goes backwards (wrap or device reset) becomes "no value" here.
        try:
            disks = psutil.disk_io_counters(perdisk=True, nowrap=False)
        except (OSError, RuntimeError, NotImplementedError):  # no /proc/diskstats in some containers
            return None
        return None if disks is None else {n: (d.read_bytes, d.write_bytes) for n, d in disks.items()}

    def _net(self) -> dict | None:
        if self._proc is not None:
            return self._proc.net()
        try:
            nics = psutil.net_io_counters(pernic=True, nowrap=False)
        except (OSError, RuntimeError, NotImplementedError):
            return None
        return {n: (c.bytes_recv, c.bytes_sent) for n, c in nics.items()}

    def snapshot(self) -> _Snapshot:
        mono = time.perf_counter()
        files = self._proc
        if files is not None:
            vm, swap = files.memory()
            return _Snapshot(mono=mono, cpu=files.cpu(), vm=vm, swap=swap,
                             disk=files.disk() if self.has_disk else {}, net=files.net() if self.has_net else {},
                             load=os.getloadavg()[0], procs=self._processes() if self._patterns else {})
        return _Snapshot(
            mono=mono, cpu=psutil.cpu_times(percpu=True), vm=psutil.virtual_memory(),
            swap=psutil.swap_memory(), disk=(self._disk() or {}) if self.has_disk else {},
            net=(self._net() or {}) if self.has_net else {},
            # Windows: psutil emulates the load average with a thread its first call
            # starts; it reads 0 for the first seconds.
            load=psutil.getloadavg()[0], procs=self._processes() if self._patterns else {})

    def _processes(self) -> dict[str, tuple[float, int]]:
        # New processes are looked up by pid as they appear (a guest booting during
        # the capture); a pid reused between two ticks would keep the old name,
        # which the tick interval makes negligible.
        pids = psutil.pids()
        known = self._known
        for pid in set(known) - set(pids):
            del known[pid]
        for pid in pids:
            if pid in known:
                continue
            try:
                proc = psutil.Process(pid)
                name = proc.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                known[pid] = None
                continue
            known[pid] = (proc, f"{name}[{pid}]") if any(p.search(name) for p in self._patterns) else None
        out = {}
        for pid, entry in list(known.items()):
            if entry is None:
                continue
            proc, component = entry
            try:
                cpu = proc.cpu_times()
                out[component] = (cpu.user + cpu.system, proc.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                # Gone, or not ours to read (Windows services): skipped from now on.
                known[pid] = None
        return out

    def _shares(self, deltas: list[float]) -> tuple[float | None, float | None, float | None]:
        total = sum(deltas) - sum(deltas[i] for i in self._twice)
        if total <= 0:  # no tick elapsed on this core (possible at 0.1 s with USER_HZ = 100)
            return None, None, None
        idle = deltas[self._idle]
        iowait = deltas[self._iowait] if self._iowait is not None else 0.0
        steal = deltas[self._steal] if self._steal is not None else 0.0
        busy = total - idle - iowait - steal
        return (_pct(busy / total), _pct(steal / total) if self._steal is not None else None,
                _pct(iowait / total) if self._iowait is not None else None)

    def values(self, prev: _Snapshot, cur: _Snapshot) -> dict[str, dict[str, float | None]]:
        dt = cur.mono - prev.mono
        util: dict[str, float | None] = {}
        steal: dict[str, float | None] = {}
        iowait: dict[str, float | None] = {}
        summed = None
        for i, (a, b) in enumerate(zip(prev.cpu, cur.cpu)):
            # Linux idle/iowait can step backwards (psutil #1210 and its cpu_percent
            # clamp the same way); a negative delta is taken as no time passing.
            d = [y - x if y > x else 0.0 for x, y in zip(a, b)]
            summed = d if summed is None else [s + x for s, x in zip(summed, d)]
            util[f"cpu{i}"], steal[f"cpu{i}"], iowait[f"cpu{i}"] = self._shares(d)
        util["total"], steal["total"], iowait["total"] = self._shares(summed or [0.0] * len(cur.cpu[0]))
        vm, sw = cur.vm, cur.swap
        # "Used" is what cannot be reclaimed (total - available), "free" is available:
        # reclaimable page cache counts as free, as Windows (EVEREST, Task Manager)
        # counts it, so used + free = total everywhere.
        used = vm.total - vm.available
        out: dict[str, dict[str, float | None]] = {"cpu_util": _order(util)}
        if self._steal is not None:
            out["cpu_steal"] = _order(steal)
        if self._iowait is not None:
            out["cpu_iowait"] = _order(iowait)
        out["mem_used"] = {"total": used}
        out["mem_free"] = {"total": vm.available}
        out["mem_total"] = {"total": vm.total}
        out["mem_util"] = {"total": _pct(used / vm.total) if vm.total else None}
        out["swap_used"] = {"total": sw.used}
        out["swap_total"] = {"total": sw.total}
        if self.has_disk:
            out["disk_read"], out["disk_write"] = _rates(prev.disk, cur.disk, dt)
        if self.has_net:
            out["net_rx"], out["net_tx"] = _rates(prev.net, cur.net, dt)
        out["load_avg"] = {"total": cur.load}
        if self._patterns:
            share, rss = {}, {}
            for component, (cpu, mem) in cur.procs.items():
                rss[component] = mem
                before = prev.procs.get(component)
                if before is not None and dt > 0:
                    # Share of all cores, like cpu_util "total" and Windows Task Manager,
                    # so a guest's process can be set against the host's busy time.
                    share[component] = _pct((cpu - before[0]) / (dt * self.ncpu)) if cpu >= before[0] else None
            out["proc_cpu_util"], out["proc_rss"] = share, rss
        return out


def _pct(fraction: float) -> float:
    # Counters are read one after another, so a share can exceed its bounds by a tick.
    return min(100.0, max(0.0, 100.0 * fraction))


def _order(by_core: dict) -> dict:
    return {"total": by_core.pop("total"), **by_core}


def _rates(prev: dict, cur: dict, dt: float) -> tuple[dict, dict]:
    first, second = {}, {}
    for name, (a, b) in cur.items():
        before = prev.get(name)
        if before is None or dt <= 0:  # appeared since the last tick: no rate yet
            continue
        first[name] = (a - before[0]) / dt if a >= before[0] else None
        second[name] = (b - before[1]) / dt if b >= before[1] else None
    return first, second


def _workbench_version() -> str:
    from ._version import __version__
    return __version__
