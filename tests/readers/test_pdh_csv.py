"""PDH-CSV (Windows Performance Monitor, typeperf, relog; VMware esxtop -b): a real
perfmon excerpt and an esxtop file laid out as VMware documents it, read to concrete
values; every broken file with its message pinned."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import polars as pl
import pytest

from workbench import readers, schema
from workbench.errors import NativeMetricWarning, ParseError

from ..conftest import FIXTURES

PDH = FIXTURES / "pdh-csv"


def read(name):
    with pytest.warns(NativeMetricWarning):
        return readers.read_file(PDH / name)


def test_the_real_perfmon_log_reads_to_concrete_values():
    parsed = read("perfmon_win_desktop_head40.csv")
    t = parsed.table
    assert parsed.metadata["time_zone"] == "Sri Lanka Standard Time"
    assert (parsed.metadata["bias_minutes"], parsed.metadata["utc_offset"]) == ("-330", "UTC+05:30")
    assert set(t["host"]) == {"DESKTOP-FUOCR3U"} and set(t["source"]) == {"pdh-csv"}
    assert t.height == 39 * 4
    first, second = sorted(t["time"].unique())[:2]
    # 05:55:48.490 in Sri Lanka is 00:25:48.490 UTC
    assert first == datetime(2023, 4, 28, 0, 25, 48, 490000, tzinfo=timezone.utc)

    def at(time, metric):
        return t.filter((pl.col("time") == time) & (pl.col("metric") == metric)).row(0, named=True)
    # the first sample of a rate counter is blank (" "): missing, not zero
    assert math.isnan(at(first, "cpu_util")["value"])
    assert at(first, "mem_free")["value"] == 7638 * schema.MIB
    # the first complete row
    cpu = at(second, "cpu_util")
    assert cpu["value"] == pytest.approx(13.959073156484624434) and cpu["component"] == "total"
    assert (cpu["aggregate"], cpu["interval"]) == ("mean", pytest.approx(15.010))
    assert at(second, "mem_free")["value"] == 6768 * schema.MIB and at(second, "mem_free")["aggregate"] == "last"
    idle = at(second, "pdh-csv:Processor\\% Idle Time")
    assert (idle["value"], idle["unit"]) == (pytest.approx(52.460837673007368664), "percent")


def test_esxtop_batch_counters_map_to_host_cpus_and_guests():
    t = read("esxtop_batch_constructed.csv").table
    later = t.filter(pl.col("time") == pl.col("time").max())
    cpu = dict(later.filter(pl.col("metric") == "cpu_util").select("component", "value").iter_rows())
    assert cpu == {"cpu0": 44.0, "cpu1": 60.0, "total": 52.0}
    ready = later.filter(pl.col("metric") == "cpu_ready").row(0, named=True)
    assert (ready["value"], ready["guest"], ready["scope"], ready["host"]) == (7.5, "web01", "guest", "esx1")
    # %USED of a VM may pass 100 (several vCPUs): kept native, not as proc_cpu_util
    used = later.filter(pl.col("metric") == "pdh-csv:Group Cpu\\% Used").row(0, named=True)
    assert used["value"] == 131.0 and used["unit"] == "percent"
    assert later.filter(pl.col("metric") == "mem_free")["value"][0] == 2040 * schema.MIB
    assert set(t.filter(pl.col("guest").is_null())["scope"]) == {"host"}


def test_detected_and_listed():
    assert readers.detect(PDH / "perfmon_win_desktop_head40.csv").name == "pdh-csv"
    assert readers.detect(PDH / "esxtop_batch_constructed.csv").name == "pdh-csv"
    assert "pdh-csv" in readers.formats()


@pytest.mark.parametrize("name, message", [
    ("bad_header", r"bad_header\.csv:1: expected \"\(PDH-CSV 4\.0\) \(<time zone>\)\(<bias minutes>\)\" as the first "
                   r"header cell, found \"\(PDH CSV\) \(UTC\)\(0\)\""),
    ("bad_counter_path", r"bad_counter_path\.csv:1: expected counter paths \\\\computer\\object\(instance\)"
                         r"\\counter, found Memory Available MBytes"),
    ("bad_timestamp", r"bad_timestamp\.csv:3: expected a time stamp MM/DD/YYYY HH:MM:SS\.fff, found 2024-01-01 00:00:05"),
    ("bad_number", r"bad_number\.csv:3: expected a number or a blank in column '\\\\h\\Memory\\Available "
                   r"MBytes', found 12,5"),
    ("time_backwards", r"time_backwards\.csv:3: expected time stamps in increasing order, found 01/01/2024 00:00:00"),
    ("ragged_row", r"ragged_row\.csv:2: expected 2 fields, as in the header, found 3 fields"),
    ("infinite", r"infinite\.csv:2: expected a finite number in column '.*Available MBytes', found 1e999"),
    ("duplicate_counter", r"duplicate_counter\.csv:1: expected each counter once in the header, found "
                          r".*Available MBytes twice"),
])
def test_broken_files_name_the_line_what_was_expected_and_found(name, message):
    with pytest.raises(ParseError, match=message):
        readers.read(PDH / "broken" / f"{name}.csv", format="pdh-csv")
