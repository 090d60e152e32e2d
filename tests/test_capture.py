"""Live capture (issue 5): real psutil on this machine, real subprocesses and signals,
the capture's own files (a real capture and deliberately broken copies of it), its
figure and its notebook."""
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import psutil
import pytest

from workbench import capture, cli, figures, machine, readers, report
from workbench.errors import ParseError, UnknownFormatError, WorkbenchError
from workbench.readers import capture as fmt

from .conftest import FIXTURES, ROOT

CAPTURES = FIXTURES / "capture"
LINUX = platform.system() == "Linux"
PERCENT = ["cpu_util", "cpu_steal", "cpu_iowait", "mem_util", "proc_cpu_util"]
WORKBENCH = [sys.executable, "-m", "workbench"]


def wait_for(predicate, what: str, timeout: float = 60.0):
    """Poll until `predicate()` is truthy (a liveness guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
    return result


def records(path: Path, kind: str) -> list[dict]:
    """Complete records of type `kind` in a live capture file."""
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n")[1:-1]:
        record = json.loads(line)
        if record.get("type") == kind:
            out.append(record)
    return out


def samples(table: pl.DataFrame) -> pl.DataFrame:
    """One row per sample (its lag row), in time order."""
    return table.filter(pl.col("metric") == fmt.LAG_METRIC).sort("time")


# --------------------------------------------------------------------------- a real capture


@pytest.fixture(scope="module")
def two_stages(tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "two.parquet"
    cap = capture.Capture(out, interval=0.1, stages=["idle=0.5", "load=0.5"], processes=[r"^python"]).start()
    assert cap.wait(60), "the capture did not end with its plan"
    result = cap.stop()
    return out, result, readers.read(out), fmt.load(out)


def test_two_timed_stages_in_order_on_the_grid(two_stages):
    out, result, table, captured = two_stages
    assert result.reason == "plan finished" and result.path == out
    assert not capture.live_path(out).exists() and sorted(p.name for p in out.parent.iterdir()) == ["two.parquet"]
    rows = samples(table)
    assert rows["stage"].unique(maintain_order=True).to_list() == ["idle", "load"]
    assert result.samples == rows.height
    start = datetime.fromtimestamp(captured.header["start"], timezone.utc)
    seconds = ((rows["time"] - start).dt.total_microseconds() / 1e6).to_list()
    lags = rows["value"].to_list()
    assert all(b > a for a, b in zip(seconds, seconds[1:]))  # monotonic
    # On the grid: each reading is its tick k * interval plus its lag, and 0 <= lag < interval.
    ticks = [(t - lag) / 0.1 for t, lag in zip(seconds, lags)]
    assert all(abs(k - round(k)) < 1e-4 for k in ticks)
    assert all(0 <= lag < 0.1 for lag in lags)
    ks = [round(k) for k in ticks]
    assert ks == sorted(set(ks)) and ks[-1] >= 10
    assert set(rows["interval"]) == {0.1}  # the capture's resolution, even after a missed tick
    idle = [k for k, s in zip(ks, rows["stage"]) if s == "idle"]
    load = [k for k, s in zip(ks, rows["stage"]) if s == "load"]
    assert max(idle) <= 5 < 6 <= min(load)
    stages = [(e["stage"], e["t"], e["how"]) for e in captured.events if e["type"] == "stage"]
    assert stages == [("idle", 0.0, "plan"), ("load", 0.5, "plan")]
    assert result.lags == pytest.approx(tuple(lags), abs=1e-6)
    p50, p99 = result.lag_quantiles()
    assert 0 <= p50 <= p99 < 0.1
    assert [e["reason"] for e in captured.events if e["type"] == "end"] == ["plan finished"]


def test_values_are_shares_and_levels_of_this_machine(two_stages):
    _, _, table, _ = two_stages
    values = table.filter(pl.col("value").is_not_nan())
    for metric in PERCENT:
        part = values.filter(pl.col("metric") == metric)
        assert part.height and part["value"].min() >= 0 and part["value"].max() <= 100, metric
    cores = {"total"} | {f"cpu{i}" for i in range(psutil.cpu_count())}
    components = {m: set(table.filter(pl.col("metric") == m)["component"]) for m in table["metric"].unique()}
    assert components["cpu_util"] == cores
    if LINUX:  # steal and iowait are reported on Linux, per core and in total
        assert components["cpu_steal"] == cores and components["cpu_iowait"] == cores
    wide = (table.filter(pl.col("metric").cast(pl.String).str.starts_with("mem_"))
            .pivot(on="metric", index="time", values="value"))
    assert set(wide["mem_total"]) == {psutil.virtual_memory().total}
    assert (wide["mem_used"] + wide["mem_free"] == wide["mem_total"]).all()
    assert wide["mem_util"].to_list() == pytest.approx((100 * wide["mem_used"] / wide["mem_total"]).to_list())
    assert set(table.filter(pl.col("metric") == "swap_total")["value"]) == {float(psutil.swap_memory().total)}
    assert components["disk_read"] <= set(psutil.disk_io_counters(perdisk=True))
    assert components["net_rx"] <= set(psutil.net_io_counters(pernic=True)) and "lo" in components["net_rx"]
    me = f"{psutil.Process().name()}[{os.getpid()}]"  # this test process matches ^python
    assert me in components["proc_rss"] and me in components["proc_cpu_util"]
    aggregates = dict(table.select("metric", "aggregate").unique().iter_rows())
    assert (aggregates["cpu_util"], aggregates["net_rx"], aggregates["mem_used"], aggregates["load_avg"]) == \
        ("mean", "mean", "last", "last")
    # unlabelled rows carry the machine's own labels (test_machine checks them against lscpu)
    labels = machine.default_labels()
    assert table.select("source", "host", "scope", "hypervisor").unique().rows() == \
        [("psutil-capture", socket.gethostname(), labels["scope"], labels["hypervisor"])]


def test_machine_metadata_is_recorded(two_stages):
    out, _, _, captured = two_stages
    meta = captured.meta
    assert (meta["psutil"], meta["cpu_count"], meta["hostname"], meta["os"]) == \
        (psutil.__version__, psutil.cpu_count(), socket.gethostname(), platform.system())
    if shutil.which("lscpu"):  # util-linux as an independent reading of the CPU model
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}).stdout
        model = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
        if model:
            assert meta["cpu_model"] == model.group(1).strip()
    described = machine.detect_machine(caches=())
    assert (meta["scope"], meta["hypervisor"], meta["container"]) == \
        (described.scope, described.hypervisor, described.virtualization.container)
    stored = readers.read_file(out).metadata
    assert stored["machine.psutil"] == psutil.__version__ and stored["capture.interval"] == "0.1"
    assert stored["machine.scope"] == described.scope


def test_steal_is_reported_apart_from_busy_time():
    # psutil's own tuple type, so the field layout is this platform's.
    fields = psutil.cpu_times()._fields
    sampler = capture._Sampler([])
    deltas = [0.0] * len(fields)
    deltas[fields.index("user")] = 20.0
    deltas[fields.index("idle")] = 40.0
    if "steal" in fields:
        deltas[fields.index("steal")] = 30.0
        deltas[fields.index("iowait")] = 10.0
        deltas[fields.index("guest")] = 15.0  # already inside user: not counted twice
        assert sampler._shares(deltas) == (20.0, 30.0, 10.0)
    else:
        assert sampler._shares(deltas)[0] == pytest.approx(100 * 20 / 60)
    assert sampler._shares([0.0] * len(fields)) == (None, None, None)


# --------------------------------------------------------------------------- crashes and signals


def start_cli(out: Path, *extra: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([*WORKBENCH, "capture", "-o", str(out), "--interval", "0.1", "--flush", "0.1", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_a_capture_killed_with_sigkill_is_readable(tmp_path):
    out = tmp_path / "killed.parquet"
    live = capture.live_path(out)
    proc = start_cli(out, "--stage", "long=120", stdin=subprocess.DEVNULL)
    wait_for(lambda: len(records(live, "sample")) >= 5, "five samples on disk")
    proc.kill()
    proc.wait()
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["killed.capture.jsonl"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fmt.TruncatedCaptureWarning)  # the kill may tear the last line
        table = readers.read(live)
        captured = fmt.load(live)
    assert not captured.complete
    assert samples(table).height >= 5 and set(table["stage"]) == {"long"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fmt.TruncatedCaptureWarning)
        converted = capture.convert(live)
    assert converted == out and readers.read(out).height == table.height


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_and_ctrl_c_end_the_capture_normally(tmp_path, signum):
    out = tmp_path / "stopped.parquet"
    # A terminal's Ctrl-C reaches a foreground process whose SIGINT is the default, which
    # Python turns into KeyboardInterrupt; a test runner started in the background may
    # pass SIGINT on ignored, so restore it.
    proc = start_cli(out, "--stage", "long=120", stdin=subprocess.DEVNULL,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(lambda: len(records(capture.live_path(out), "sample")) >= 3, "three samples on disk")
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "(stopped) -> " in stdout and stderr == ""
    assert [p.name for p in tmp_path.iterdir()] == ["stopped.parquet"]
    captured = fmt.load(out)
    assert captured.complete and [e["reason"] for e in captured.events if e["type"] == "end"] == ["stopped"]
    assert set(captured.table["stage"]) == {"long"}


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_marks_typed_on_the_terminal_start_stages(tmp_path):
    out = tmp_path / "marked.parquet"
    live = capture.live_path(out)
    proc = start_cli(out, stdin=subprocess.PIPE)
    wait_for(lambda: len(records(live, "sample")) >= 2, "two samples on disk")
    proc.stdin.write("guest boot\n")
    proc.stdin.flush()
    wait_for(lambda: records(live, "stage"), "the stage mark on disk")
    seen = len(records(live, "sample"))
    wait_for(lambda: len(records(live, "sample")) >= seen + 2, "two samples after the mark")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    rows = samples(readers.read(out))
    assert rows["stage"].unique(maintain_order=True).to_list() == [None, "guest boot"]
    marks = [e for e in fmt.load(out).events if e["type"] == "stage"]
    assert [(e["stage"], e["how"]) for e in marks] == [("guest boot", "mark")]


def test_a_wrapped_command_is_a_stage_and_its_exit_status_is_recorded(tmp_path, capsys):
    out = tmp_path / "cmd.parquet"
    code = "import sys; sys.exit(3)"
    rc = cli.main(["capture", "-o", str(out), "--interval", "0.1", "--stage", "warm-up=0.2", "--",
                   sys.executable, "-c", code])
    assert rc == 3
    printed = capsys.readouterr().out
    assert "(command exited) -> " in printed and "command exited with status 3" in printed
    table = readers.read(out)
    name = f"{Path(sys.executable).name} -c '{code}'"
    assert samples(table)["stage"].unique(maintain_order=True).to_list() == ["warm-up", name]
    status = table.filter(pl.col("metric") == fmt.EXIT_METRIC)
    assert status.select("stage", "component", "value", "unit", "aggregate").rows() == \
        [(name, "command", 3.0, "1", "single")]
    assert status["interval"].to_list() == [None]
    captured = fmt.load(out)
    assert captured.exit_statuses == [3]
    assert [e["argv"] for e in captured.events if e["type"] == "command"] == [[sys.executable, "-c", code]]


@pytest.mark.skipif(not LINUX, reason="POSIX signals")
def test_a_command_killed_by_a_signal_exits_128_plus_n(tmp_path):
    out = tmp_path / "killed-cmd.parquet"
    assert cli.main(["capture", "-o", str(out), "--interval", "0.1", "--", "sh", "-c", "kill -KILL $$"]) == 137
    assert fmt.load(out).exit_statuses == [-9]


def test_live_marks_follow_and_table_in_the_library(tmp_path):
    cap = capture.Capture(tmp_path / "live.parquet", interval=0.1).start()
    wait_for(lambda: cap.status().samples >= 2, "two samples")
    tables = list(cap.follow(0.1, seconds=0.25))
    assert tables and tables[-1].filter(pl.col("metric") == "cpu_util").height >= 2 * (psutil.cpu_count() + 1)
    cap.mark("boot guest")
    wait_for(lambda: cap.status().stage == "boot guest", "the mark to apply")
    seen = cap.status().samples
    wait_for(lambda: cap.status().samples >= seen + 2, "two samples after the mark")
    with pytest.raises(WorkbenchError, match="a stage name must be a non-empty string, found ' '"):
        cap.mark(" ")
    result = cap.stop()
    assert result.reason == "stopped" and cap.stop() is result
    with pytest.raises(WorkbenchError, match="the capture has ended"):
        cap.mark("too late")
    captured = fmt.load(result.path)
    rows = samples(captured.table)
    assert rows["stage"].unique(maintain_order=True).to_list() == [None, "boot guest"]
    mark = next(e for e in captured.events if e["type"] == "stage")
    start = datetime.fromtimestamp(captured.header["start"], timezone.utc)
    t = ((rows["time"] - start).dt.total_microseconds() / 1e6).to_list()
    last_before = max(x for x, s in zip(t, rows["stage"]) if s is None)
    first_after = min(x for x, s in zip(t, rows["stage"]) if s == "boot guest")
    assert mark["how"] == "mark" and last_before < mark["t"] <= first_after


def test_a_bounded_history_keeps_the_latest_samples_with_their_own_spans(tmp_path):
    cap = capture.Capture(tmp_path / "h.parquet", interval=0.1, history=3).start()
    wait_for(lambda: cap.status().samples >= 6, "six samples")
    rows = samples(cap.table())
    cap.stop()
    assert rows.height == 3
    # every kept sample carries the capture's interval, not the span since the start
    assert set(rows["interval"]) == {0.1}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, message", [
    (dict(interval=0.05), "`interval` must be between 0.1 and 10 seconds, found 0.05"),
    (dict(interval=11), "`interval` must be between 0.1 and 10 seconds, found 11"),
    (dict(flush_interval=0), "`flush_interval` must be a positive number of seconds, found 0"),
    (dict(stages=["idle=abc"]), "stage 'idle=abc': SECONDS must be a positive number, found 'abc'"),
    (dict(stages=["idle=-1"]), "stage 'idle=-1': SECONDS must be a positive number, found '-1'"),
    (dict(stages=["=5"]), "stage '=5': expected NAME=SECONDS or NAME, found no name"),
    (dict(stages=["idle", "load=5"]), "stage 'idle' has no duration: only the last stage may be open-ended"),
    (dict(stages=["idle"], command=["true"]), "stage 'idle' has no duration, so the command would never run"),
    (dict(processes=["qemu("]), r"process pattern 'qemu\(' is not a regular expression"),
    (dict(labels={"colour": "red"}), "unknown label 'colour'; labels are: experiment, condition"),
])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, kwargs, message):
    with pytest.raises(WorkbenchError, match=message):
        capture.Capture(tmp_path / "x.parquet", **kwargs).start()
    assert list(tmp_path.iterdir()) == []


def test_a_command_that_does_not_exist_is_refused_at_start(tmp_path):
    with pytest.raises(WorkbenchError, match="command not found: no-such-command-wb5"):
        capture.Capture(tmp_path / "x.parquet", command=["no-such-command-wb5"]).start()
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_path_is_a_clear_error_at_start(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "x.parquet"
    with pytest.raises(WorkbenchError, match=r"cannot create capture file .*a-file/x\.capture\.jsonl: Not a directory"):
        capture.Capture(out).start()
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_an_earlier_unfinished_capture_is_not_overwritten(tmp_path):
    live = tmp_path / "x.capture.jsonl"
    shutil.copy(CAPTURES / "torn.capture.jsonl", live)
    with pytest.raises(WorkbenchError, match=r"x\.capture\.jsonl exists \(an earlier capture that did not finish\?\)"):
        capture.Capture(tmp_path / "x.parquet").start()
    assert live.read_bytes() == (CAPTURES / "torn.capture.jsonl").read_bytes()


@pytest.mark.skipif(not LINUX, reason="RLIMIT_FSIZE and SIGXFSZ")
def test_a_failing_write_mid_capture_stops_it_with_one_line_and_keeps_what_was_flushed(tmp_path):
    import resource

    limit = 8192  # the header fits, a few samples later a write fails as on a full disk

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed

    out = tmp_path / "full.parquet"
    proc = start_cli(out, "--stage", "long=120", stdin=subprocess.DEVNULL, preexec_fn=small_files)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and stdout == ""
    assert re.fullmatch(r"workbench capture: error: cannot write \S+full\.capture\.jsonl: File too large; "
                        r"the capture stopped after \d+ samples, the lines flushed before stay readable\n", stderr)
    live = capture.live_path(out)
    assert [p.name for p in tmp_path.iterdir()] == [live.name] and live.stat().st_size == limit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = readers.read(live)
    torn = not live.read_bytes().endswith(b"\n")
    assert [w.category for w in caught] == ([fmt.TruncatedCaptureWarning] if torn else [])
    assert samples(table).height >= 1


@pytest.mark.parametrize("args, message", [
    (["--interval", "20"], "`interval` must be between 0.1 and 10 seconds, found 20.0"),
    (["--stage", "idle=abc"], "stage 'idle=abc': SECONDS must be a positive number, found 'abc'"),
    (["--label", "colour=red"], "unknown label 'colour'"),
])
def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    rc = cli.main(["capture", "-o", str(tmp_path / "x.parquet"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the file format


def test_the_real_fixture_reads_to_concrete_values():
    table = readers.read(CAPTURES / "good.capture.jsonl")
    captured = fmt.load(CAPTURES / "good.capture.jsonl")
    rows = samples(table)
    assert rows.height == 7 and captured.complete and captured.dropped_line is None
    assert rows["stage"].to_list() == ["idle", "idle", "busy", "busy", "sleep 0.6", "sleep 0.6", "sleep 0.6"]
    assert rows["interval"].to_list() == [0.25] * 7
    assert rows["time"][0] == datetime(2026, 11, 26, 17, 43, 51, 632221, tzinfo=timezone.utc)
    cpu = table.filter((pl.col("metric") == "cpu_util") & (pl.col("time") == rows["time"][3]))
    assert dict(cpu.select("component", "value").iter_rows()) == \
        {"total": 98.07692307692497, "cpu0": 96.15384615384961, "cpu1": 100.0}
    assert set(table.filter(pl.col("metric") == "mem_total")["value"]) == {25325268992.0}
    assert table.filter(pl.col("metric") == "proc_rss")["component"].unique().to_list() == ["sleep[17494]"]
    assert table.filter(pl.col("metric") == fmt.EXIT_METRIC)["value"].to_list() == [0.0]
    assert table.select("condition", "scope", "host", "source").unique().rows() == \
        [("native", "host", "vm", "psutil-capture")]
    assert captured.meta["cpu_model"] == "Intel(R) Xeon(R) Processor" and captured.header["interval"] == 0.25
    assert table.height == 319


def test_the_finished_parquet_holds_the_same_table_and_header(tmp_path):
    good = tmp_path / "good.capture.jsonl"
    shutil.copy(CAPTURES / "good.capture.jsonl", good)
    out = capture.convert(good)
    assert out == tmp_path / "good.parquet" and good.exists()  # convert keeps the JSON lines
    jsonl = readers.read(good)
    parquet = readers.read(out)
    assert parquet.drop("source_file").equals(jsonl.drop("source_file"))
    assert fmt.load(out).header == fmt.load(good).header
    assert fmt.load(out).events == fmt.load(good).events
    # the JSON lines are the capture's own format; the Parquet is a table like every other
    assert (readers.detect(good).name, readers.detect(out).name) == ("capture", "workbench-table")
    assert readers.read_file(out).metadata["machine.cpu_model"] == "Intel(R) Xeon(R) Processor"


def test_a_torn_last_line_is_dropped_with_a_warning():
    with pytest.warns(fmt.TruncatedCaptureWarning, match=r"torn\.capture\.jsonl:13: the last line is incomplete"):
        captured = fmt.load(CAPTURES / "torn.capture.jsonl")
    assert captured.dropped_line == 13 and not captured.complete
    assert samples(captured.table).height == 6 and captured.exit_statuses == [0]


@pytest.mark.parametrize("name, message", [
    ("bad_json", r"bad_json\.capture\.jsonl:6: expected a JSON object, found \{\"type\":\"sample\",\"k\":3"),
    ("no_header", r"no_header\.capture\.jsonl:1: expected a capture header \{\"format\": \"workbench-capture\", "
                  r"\.\.\.\}, found \{\"type\": \"stage\""),
    ("version2", r"version2\.capture\.jsonl:1: expected format version 1, found version 2"),
    ("bad_value", r"bad_value\.capture\.jsonl:4: expected 'cpu_util' 'total': a number or null, found '12%'"),
    ("unknown_record", r"unknown_record\.capture\.jsonl:6: expected a record type among sample, stage, command, "
                       r"exit, note, end, found 'pause'"),
    ("k_repeated", r"k_repeated\.capture\.jsonl:4: expected 'k': a grid index greater than 1, found 1"),
    ("undeclared_metric", r"undeclared_metric\.capture\.jsonl:3: expected a metric declared in the header, "
                          r"found 'cpu_guest'"),
])
def test_broken_files_name_the_line_what_was_expected_and_what_was_found(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read(CAPTURES / f"{name}.capture.jsonl", format="capture")


def test_a_file_without_header_is_not_recognised():
    with pytest.raises(UnknownFormatError, match="format not recognised .*known formats: .*capture"):
        readers.read(CAPTURES / "no_header.capture.jsonl")


def test_a_metric_outside_the_vocabulary_is_kept_with_a_warning():
    with pytest.warns(UserWarning, match="metric 'cpu_guest' is not in the vocabulary; "
                                         "kept as 'psutil-capture:cpu_guest'"):
        table = readers.read(CAPTURES / "future_metric.capture.jsonl")
    kept = table.filter(pl.col("metric") == "psutil-capture:cpu_guest")
    assert kept.select("component", "value", "unit", "aggregate").rows() == [("total", 0.0, "percent", "mean")]


def test_a_parquet_table_that_is_not_a_capture_says_where_to_read_it(tmp_path):
    from workbench import storage

    out = storage.write_table(readers.read(ROOT / "data" / "thesis" / "fig65_cpu_per_core.csv"),
                              tmp_path / "not_capture.parquet")
    with pytest.raises(ParseError, match=r"not_capture\.parquet: Parquet metadata 'workbench' producer: expected a "
                                         r"finished capture .* \(read other measurement tables with "
                                         r"workbench\.read_table\), found no producer"):
        fmt.load(out)  # the capture API needs a capture; readers.read takes it as a plain table
    assert readers.read(out).height == 18


# --------------------------------------------------------------------------- summary, figure, notebook


def test_stage_summary_of_the_fixture():
    summary = capture.stage_summary(readers.read(CAPTURES / "good.capture.jsonl"), ["cpu_util"])
    assert summary.select("stage", "samples", "seconds").rows() == [("idle", 2, 0.5), ("busy", 2, 0.5),
                                                                     ("sleep 0.6", 3, 0.75)]
    assert summary["median"].to_list() == pytest.approx([100.0, 99.03846153846249, 100.0])


def test_capture_series_draws_components_and_stage_bands():
    import matplotlib.pyplot as plt

    table = readers.read(CAPTURES / "good.capture.jsonl")
    fig, ax = plt.subplots()
    try:
        assert figures.capture_series(table, "cpu_util", ax=ax) is ax
        assert [line.get_label() for line in ax.lines] == ["total", "cpu0", "cpu1"]
        assert ax.lines[0].get_linewidth() == 2.0
        assert ax.lines[1].get_ydata().tolist() == pytest.approx(
            table.filter((pl.col("metric") == "cpu_util") & (pl.col("component") == "cpu0")).sort("time")["value"]
            .to_list())
        assert len(ax.patches) == 3  # one band per stage
        assert [t.get_text().strip() for t in ax.texts] == ["idle", "busy", "sleep 0.6"]
        assert ax.get_ylim() == (0, 105) and ax.get_ylabel() == "cpu_util (%)"
        ax.clear()
        figures.capture_series(table, "mem_used", ax=ax)
        assert ax.get_ylabel() == "mem_used (MiB)"
        assert ax.lines[0].get_ydata()[0] == pytest.approx(2599968768 / 2**20)
        with pytest.raises(WorkbenchError, match="no rows for metric 'gpu_util'"):
            figures.capture_series(table, "gpu_util", ax=ax)
        two = pl.concat([table, table.with_columns(run=pl.lit(2, pl.Int32))])
        with pytest.raises(WorkbenchError, match="rows of 2 captures"):
            figures.capture_series(two, "cpu_util", ax=ax)
    finally:
        plt.close(fig)


def test_the_notebook_captures_marks_and_plots(tmp_path):
    out = tmp_path / "nb.parquet"
    entry = report.ReportEntry(name="capture", notebook=ROOT / "notebooks" / "capture.ipynb", title="capture",
                               parameters={"output": str(out), "interval": 0.1, "baseline_seconds": 0.5,
                                           "rest_seconds": 0.5, "load_rounds": 5, "refresh": 0.2})
    result = report.render_notebook(entry, tmp_path / "report")
    assert result.ok, result.error
    html = result.html.read_text(encoding="utf-8")
    # two live views (baseline, rest) and the final four-panel figure
    assert html.count('src="data:image/png;base64,') == 3
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"\d+ samples over [\d.]+ s, \d+ ticks missed; lag p50", text)
    assert "psutil" in text and psutil.__version__ in text
    rows = samples(readers.read(out))
    assert rows["stage"].unique(maintain_order=True).to_list()[0] == "baseline"
    marks = [e["stage"] for e in fmt.load(out).events if e["type"] == "stage"]
    assert marks == ["baseline", "numpy load", "rest"]


def test_proc_reader_gives_psutils_counters():
    """On Linux the sampler reads /proc itself (files kept open); what it reads has psutil's
    fields, units and devices (counters move between the two reads: compared loosely)."""
    if not psutil.LINUX:
        pytest.skip("Linux /proc only")
    sampler = capture._Sampler([])
    files = sampler._proc
    assert files is not None
    try:
        ours, theirs = files.cpu(), psutil.cpu_times(percpu=True)
        assert len(ours) == len(theirs) and len(ours[0]) == len(theirs[0])
        assert all(abs(a - b) <= 1.0 for a, b in zip(ours[0], theirs[0]))  # seconds, moved by < 1 s
        vm, swap = files.memory()
        assert vm.total == psutil.virtual_memory().total and swap.total == psutil.swap_memory().total
        assert sorted(files.disk()) == sorted(psutil.disk_io_counters(perdisk=True, nowrap=False))
        assert sorted(files.net()) == sorted(psutil.net_io_counters(pernic=True, nowrap=False))
        before = sampler.snapshot()
        values = sampler.values(before, sampler.snapshot())
        assert set(values) == set(sampler.metrics) and values["mem_total"] == {"total": vm.total}
    finally:
        sampler.close()
    assert sampler._proc is None
