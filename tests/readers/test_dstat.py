"""dstat CSV (dstat --output): the Felter et al. 2014 MySQL captures read to concrete values,
a file laid out as dstat writes every mapped group, and every broken file with its message
pinned."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import polars as pl
import pytest

from workbench import readers
from workbench.errors import AssumptionWarning, ExcludedDataWarning, NativeMetricWarning, ParseError

from ..conftest import FIXTURES

DSTAT = FIXTURES / "dstat"


def read(name, **options):
    with pytest.warns(NativeMetricWarning), pytest.warns(ExcludedDataWarning, match="averages since boot"):
        return readers.read_file(DSTAT / name, options=options or None)


def at(table, time, metric, component="total"):
    rows = table.filter((pl.col("time") == time) & (pl.col("metric") == metric) & (pl.col("component") == component))
    assert rows.height == 1, (time, metric, component)
    return rows.row(0, named=True)


def test_the_felter_kvm_capture_two_sessions_in_one_file():
    with pytest.warns(AssumptionWarning, match=r"dates in CDT read as UTC-05:00; pass timezone='Area/City'"):
        parsed = read("felter_kvm_head40.csv")
    t = parsed.table
    meta = parsed.metadata
    assert meta["sessions"] == "2" and meta["session2.date"] == "16 Jul 2014 11:27:20 CDT"
    assert meta["session1.cmdline"] == "dstat --output /tmp/dstat-run-2000000-vm.csv -cndy --net-packets"
    assert set(t["host"]) == {"arldcn24"} and set(t["source"]) == {"dstat"}
    # session 1: 4 rows, the first (since boot) left out; session 2: rows 19-40, the first left out
    assert t["time"].n_unique() == 3 + 21
    # session 1's first sample, one second after 11:20:56 CDT (16:20:56 UTC): recv 581, send 836 bytes/s
    first = datetime(2014, 7, 16, 16, 20, 57, tzinfo=timezone.utc)
    assert t["time"].min() == first
    rx = at(t, first, "net_rx")
    assert (rx["value"], rx["unit"], rx["aggregate"], rx["interval"]) == (581.0, "bytes/s", "mean", 1.0)
    assert at(t, first, "net_tx")["value"] == 836.0
    assert at(t, first, "cpu_util")["value"] == 0.0  # idl 100.0
    assert at(t, first, "dstat:system:int")["value"] == 71.0 and at(t, first, "dstat:system:int")["unit"] == "1/s"
    # session 2 starts again from its own date: 11:27:20 CDT + 1 s
    second = datetime(2014, 7, 16, 16, 27, 21, tzinfo=timezone.utc)
    assert at(t, second, "net_tx")["value"] == 888.0


def test_the_felter_docker_capture_with_a_stated_zone():
    parsed = read("felter_docker_nethost.csv", timezone="America/Chicago")  # no AssumptionWarning
    t = parsed.table
    assert t["time"].n_unique() == 1648
    last = t["time"].max()
    # 18 Jun 2014 16:29:05 CDT + 1648 s
    assert last == datetime(2014, 6, 18, 21, 56, 33, tzinfo=timezone.utc)
    # the last row: usr 58.555, sys 11.850, idl 25.158, wai 0.0; recv 10329406; writ 16384
    assert at(t, last, "cpu_util")["value"] == pytest.approx(100 - 25.158)
    assert at(t, last, "cpu_iowait")["value"] == 0.0
    assert at(t, last, "net_rx")["value"] == 10329406.0
    assert at(t, last, "disk_write")["value"] == 16384.0
    assert at(t, last, "dstat:total cpu usage:usr")["value"] == 58.555


def test_every_mapped_group_of_a_file_laid_out_as_dstat_writes_it():
    t = read("constructed_all_groups.csv").table
    # --epoch: times from the epoch column (1425286805 = 2015-03-02 09:00:05 UTC); delay 5 s
    t1 = datetime(2015, 3, 2, 9, 0, 5, tzinfo=timezone.utc)
    t2 = datetime(2015, 3, 2, 9, 0, 10, tzinfo=timezone.utc)
    assert sorted(t["time"].unique()) == [t1, t2] and set(t["host"]) == {"guest7"}
    assert at(t, t1, "cpu_util")["value"] == 100 - 80 - 3
    assert (at(t, t1, "cpu_util", "cpu0")["value"], at(t, t1, "cpu_iowait", "cpu0")["value"]) == (32.0, 8.0)
    assert at(t, t1, "cpu_util")["interval"] == 5.0
    assert at(t, t1, "mem_used")["value"] == 536870912.0 and at(t, t1, "mem_free")["value"] == 1061158912.0
    assert at(t, t1, "dstat:memory usage:cach")["unit"] == "bytes"
    assert (at(t, t1, "swap_in")["value"], at(t, t1, "swap_out")["value"]) == (4096.0, 8192.0)
    assert math.isnan(at(t, t2, "swap_in")["value"])  # a blank cell is missing, not zero
    assert at(t, t1, "swap_used")["value"] == 1048576.0
    assert at(t, t1, "swap_total")["value"] == 1048576.0 + 2146435072.0
    assert (at(t, t1, "disk_read", "sda")["value"], at(t, t1, "disk_write", "sda")["value"]) == (40960.0, 81920.0)
    assert (at(t, t1, "net_rx", "eth0")["value"], at(t, t1, "net_tx", "eth0")["value"]) == (1500.0, 3000.0)
    load = at(t, t1, "load_avg")
    assert (load["value"], load["aggregate"], load["interval"]) == (0.5, "last", None)
    assert at(t, t1, "dstat:load avg:5m")["value"] == 0.25


def test_a_time_column_gives_each_rows_time():
    t = read("constructed_time_column.csv", timezone="America/Chicago").table  # no AssumptionWarning
    # "16-07 11:20:58" in Chicago (CDT) with the year of the session's date; delay 2 s
    t1 = datetime(2014, 7, 16, 16, 20, 58, tzinfo=timezone.utc)
    assert sorted(t["time"].unique()) == [t1, datetime(2014, 7, 16, 16, 21, 0, tzinfo=timezone.utc)]
    util = at(t, t1, "cpu_util")
    assert (util["value"], util["interval"]) == (100 - 80 - 5, 2.0)
    assert not t["metric"].cast(pl.String).str.contains("time").any()


def test_detected_and_listed():
    assert readers.detect(DSTAT / "felter_kvm_head40.csv").name == "dstat"
    assert "dstat" in readers.formats()


@pytest.mark.parametrize("name, message", [
    ("bad_first_line", r"bad_first_line\.csv:1: expected \"Dstat <version> CSV output\" as the first line, "
                       r"found \"Dstot 0\.7\.2 CSV output\""),
    ("ragged_row", r"ragged_row\.csv:9: expected 9 fields, as in the header, found 8 fields"),
    ("bad_number", r"bad_number\.csv:9: expected a number in column 'total cpu usage:idl' \(ASCII digits\), found 'n/a'"),
    ("unknown_zone", r"unknown_zone\.csv:4: expected a date whose zone the reader knows \(UTC, .*\), or the option "
                     r"timezone='Area/City', found '16 Jul 2014 11:20:56 XYZT'"),
    ("bad_date", r"bad_date\.csv:4: expected a date such as '16 Jul 2014 11:20:56 CDT', found '2014-07-16 11:20:56'"),
    ("no_group_row", r"no_group_row\.csv:7: expected the row of column names \(\"usr\",\"sys\",\.\.\.\) after the row "
                     r"of groups, found 0\.1,0\.2"),
    ("no_host", r"no_host\.csv:2: expected a \"Host:\" line, found none"),
])
def test_broken_files_name_the_line_what_was_expected_and_found(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read(DSTAT / "broken" / f"{name}.csv", format="dstat")
