"""sysbench text output (0.4, 0.5, 1.x; cpu, memory, fileio, threads, mutex, oltp; CRLF):
real files read to concrete values; every broken file with its message pinned."""
from __future__ import annotations

import math
import warnings

import polars as pl
import pytest

from workbench import readers, schema
from workbench.errors import NativeMetricWarning, ParseError

from ..conftest import FIXTURES

BENCH = FIXTURES / "benchmarks"


def read(name, **options):
    with pytest.warns(NativeMetricWarning, match="sysbench:latency_p95"):
        return readers.read_file(BENCH / name, options=options or None)


def value(t, metric, component=None, run=None):
    rows = t.filter(pl.col("metric") == metric)
    if component is not None:
        rows = rows.filter(pl.col("component") == component)
    if run is not None:
        rows = rows.filter(pl.col("run") == run)
    assert rows.height == 1, rows
    return rows["value"][0]


def test_pkb_memory_per_cpu_runs_give_mib_per_second_as_bytes():
    parsed = read("sysbench_memory_pkb.txt")
    t = parsed.table
    assert readers.detect(BENCH / "sysbench_memory_pkb.txt").name == "sysbench"
    assert parsed.metadata["sysbench_version"] == "1.0.11"
    bw = t.filter(pl.col("metric") == "mem_transfer_bw").sort("run")
    # "38034.01 MiB transferred (3803.18 MiB/sec)" on CPU 0, then CPUs 1..3
    assert bw["value"].to_list() == pytest.approx([3803.18 * schema.MIB, 5343.59 * schema.MIB,
                                                   5353.06 * schema.MIB, 3811.29 * schema.MIB])
    assert set(bw["component"]) == {"memory 1KiB write"} and set(bw["stage"]) == {"1 thread"}
    assert value(t, "ops_rate", run=1) == 3894455.31
    # latencies printed as 0.00 ms are below sysbench's resolution: missing, not zero
    assert math.isnan(value(t, "op_latency", run=1))


def test_crlf_file_reads_the_same():
    t = read("sysbench_memory_pkb_crlf.txt").table
    assert value(t, "mem_transfer_bw") == pytest.approx(3803.18 * schema.MIB)


def test_utf16_with_bom_as_powershell_saves_it_reads_the_same():
    assert readers.detect(BENCH / "sysbench-1.0.20_threads_here_utf16.txt").name == "sysbench"
    t = read("sysbench-1.0.20_threads_here_utf16.txt").table
    assert value(t, "ops_rate", "events") == pytest.approx(7487 / 2.0002)


def test_container_study_cpu_fileio_memory_mutex_threads_sections():
    t = read("sysbench_cpu_fileio_native.txt").table
    assert value(t, "ops_rate", "cpu") == 23.12  # "events per second:    23.12"
    assert value(t, "op_latency", "cpu") == pytest.approx(43.26e-3)
    assert value(t, "sysbench:latency_p95", "cpu") == pytest.approx(44.98e-3)
    io = "fileio random r/w"
    assert (value(t, "io_read_iops", io), value(t, "io_write_iops", io)) == (333.85, 222.56)
    assert value(t, "io_read_bw", io) == pytest.approx(5.22 * schema.MIB)
    assert value(t, "io_write_bw", io) == pytest.approx(3.48 * schema.MIB)
    assert value(t, "ops_rate", f"{io} fsyncs") == 712.29
    # "161061273600 bytes written in 152.64 seconds" (prepare)
    assert value(t, "sysbench:prepare_write_bw", "fileio") == pytest.approx(161061273600 / 152.64)
    assert value(t, "mem_transfer_bw", "memory 1KiB write") == pytest.approx(15701.95 * schema.MIB)
    # 1.x mutex and threads print nothing that names them: the "MUTEX BENCHMARKS" banner does
    assert value(t, "ops_rate", "mutex") == pytest.approx(512 / 6.8047)
    assert value(t, "ops_rate", "threads") == pytest.approx(425141 / 300.0004)
    stages = dict(t.filter(pl.col("metric") == "ops_rate").select("component", "stage").iter_rows())
    assert stages["mutex"] == "512 threads" and stages["cpu"] == "1 thread"


def test_threads_and_mutex_without_a_banner_take_the_test_option():
    t = read("sysbench-1.0.20_threads_here.txt").table
    assert value(t, "ops_rate", "events") == pytest.approx(7487 / 2.0002)
    t = read("sysbench-1.0.20_mutex_here.txt", test="mutex").table
    assert value(t, "ops_rate", "mutex") == pytest.approx(2 / 0.2739)
    assert value(t, "op_latency", "mutex") == pytest.approx(0.23421)


def test_memory_read_block_and_operation_name_the_component():
    t = read("sysbench-1.0.20_memory_read_here.txt").table
    assert value(t, "mem_transfer_bw", "memory 1024KiB read") == pytest.approx(30026.42 * schema.MIB)


def test_oltp_04_and_05_layouts():
    t = read("sysbench-0.4_oltp_ro_16threads.txt").table
    assert value(t, "ops_rate", "oltp-transactions") == 35835.78
    assert value(t, "ops_rate", "oltp-requests") == 35835.78
    assert value(t, "op_latency", "oltp") == pytest.approx(0.44e-3)  # "avg: 0.44ms"
    assert set(t["stage"]) == {"16 threads"}
    parsed = read("sysbench-0.5_oltp_ro_4threads.txt")
    t = parsed.table
    assert value(t, "ops_rate", "oltp-transactions") == 2536.86
    assert value(t, "sysbench:latency_p95", "oltp") == pytest.approx(1.67e-3)
    assert parsed.metadata["intermediate_reports_not_read"] == "60"


@pytest.mark.parametrize("name, message", [
    ("sysbench_no_banner.txt", r"sysbench_no_banner.txt:1: expected a 'sysbench <version>' banner line, "
                               r"found Running the test"),
    ("sysbench_truncated.txt", r"sysbench_truncated.txt:18: expected 'General statistics:' with 'total time:' "
                               r"for the run starting at line 1, found none \(truncated run\?\)"),
    ("sysbench_bad_number.txt", r"sysbench_bad_number.txt:15: expected a number after 'events per second:' "
                                r"\(ASCII digits\), found 'n/a'"),
    ("sysbench_zero_time.txt", r"sysbench_zero_time.txt:1: expected a positive 'total time:', found 0 s"),
    ("sysbench_cleanup_only.txt", r"sysbench_cleanup_only.txt:3: expected at least one finished sysbench run"),
])
def test_broken_files_name_line_and_expectation(name, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NativeMetricWarning)
        with pytest.raises(ParseError, match=message):
            readers.read(BENCH / "broken" / name, format="sysbench")
